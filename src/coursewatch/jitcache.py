"""Where numba keeps compiled kernels: a folder named after the source of the kernels.

numba's own cache notices when a function's file changes, but not when a constant it reads
from another module does (the state layout in ``engine/state.py``, the scratch sizes in
``engine/model.py``), so a stale kernel could read the wrong slots. Naming the cache folder
after a hash of every module of the engine and every other module that numba compiles makes
any change to them start a fresh cache. ``NUMBA_CACHE_DIR`` set by the user wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).parent


def _sources() -> list[Path]:
    """Every module numba compiles (it imports numba), and the engine's: sorted, so stable."""
    found = [p for p in _PACKAGE.rglob("*.py") if "import numba" in p.read_text("utf-8")]
    return sorted({*found, *(_PACKAGE / "engine").glob("*.py")})


def cache_dir() -> Path:
    digest = hashlib.sha256()
    for path in _sources():
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "coursewatch" / f"numba-{digest.hexdigest()[:16]}"


def configure() -> None:
    """Point numba's cache at :func:`cache_dir` unless the user chose one."""
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir()))
    if "numba" in sys.modules:  # imported before us: tell its config directly
        from numba.core import config

        settings: Any = config
        settings.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def _folder() -> Path:
    return Path(os.environ.get("NUMBA_CACHE_DIR") or cache_dir())


def is_cold(path: str) -> bool:
    """Whether the engine has not yet been compiled here for ``path`` ("analyze" or "live":
    each compiles its own signatures, about a minute on 2 cores): nothing marked it warm in
    this version's cache (:func:`mark_warm`)."""
    return not (_folder() / f"warm-{path}").exists()


def mark_warm(path: str) -> None:
    """Say that ``path`` ran the engine here: later commands start in seconds."""
    with contextlib.suppress(OSError):  # (a cache that cannot be written: said again)
        _folder().mkdir(parents=True, exist_ok=True)
        (_folder() / f"warm-{path}").touch()
