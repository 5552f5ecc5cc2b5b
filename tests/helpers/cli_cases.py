"""Run run.py's real entry point once per case inside one interpreter, so a table of bad inputs costs one
torch import instead of one per case. Prints one JSON line per case: exit code, last stderr line, seconds, and
whether training began (a harness.train.TrainingStep was built): a refusal must come before any compute.

    python tests/helpers/cli_cases.py OUT_ROOT '["model=nope"]' '["train.lr=0"]' ...
"""

import contextlib
import io
import json
import runpy
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


TRAINED = []  # one entry per TrainingStep built


def watch_training() -> None:
    from harness import train

    original = train.TrainingStep.__init__

    def built(self, *args, **kwargs):
        TRAINED.append(True)
        original(self, *args, **kwargs)

    train.TrainingStep.__init__ = built


def run_case(out_root: str, overrides: list[str]) -> dict:
    sys.argv = [str(REPO / "run.py"), f"out_root={out_root}", "threads=1", *overrides]
    TRAINED.clear()
    stderr = io.StringIO()
    started = time.perf_counter()
    code = 0
    with contextlib.redirect_stderr(stderr):
        try:
            runpy.run_path(str(REPO / "run.py"), run_name="__main__")
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else 1
    lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
    return {"overrides": overrides, "code": code, "last_line": lines[-1] if lines else "",
            "seconds": time.perf_counter() - started, "trained": bool(TRAINED)}


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    watch_training()
    out_root = sys.argv[1]
    for case in sys.argv[2:]:
        print(json.dumps(run_case(out_root, json.loads(case))), flush=True)
