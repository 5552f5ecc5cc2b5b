"""The harness around the core: config checks and the distance plan (config.py), the one decision rule
(verdict.py), the training loop up the budget ladder (train.py), the run record (record.py), checkpoints, locks
and devices (runtime.py), atomic writes (files.py) and optional metric loggers (loggers.py). run.py is the Hydra
entry point that ties them together."""
