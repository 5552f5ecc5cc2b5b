"""One way to write a file that a kill at any moment leaves whole: the old version or the new one, never half."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomic(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Write through ``write(handle)`` into a temporary file beside ``path``, fsync it, then rename it over
    ``path``. The temporary name starts with a dot and ends in .tmp, which run.py clears from a run directory."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb" if binary else "w") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
