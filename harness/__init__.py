"""The harness around the core: config checks (config.py), the run record (record.py), the training loop
(train.py), the trend test behind every "settled" decision (trend.py) and optional metric loggers (loggers.py).
run.py is the Hydra entry point that ties them together."""
