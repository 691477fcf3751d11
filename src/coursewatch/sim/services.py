"""Real database servers for tests and benchmarks: a PostgreSQL of their own, on loopback, in a
temporary folder, stopped and removed at the end.

Uses the Debian packages' binaries (``scripts/test.sh`` installs them). PostgreSQL will not run
as root: as root, the server runs as the ``postgres`` user the package made.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from coursewatch.sim.hq import free_port


class ServiceMissing(RuntimeError):
    """The Debian package a test needs is not installed."""


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise ServiceMissing(f"PostgreSQL's {name} not found: scripts/test.sh installs it")
    return found


def _as_owner(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (a free port): its URL (database
    ``postgres``, user ``coursewatch``, no password: trust on loopback)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    folder = Path(tempfile.mkdtemp(prefix="coursewatch-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    run = {"check": True, "capture_output": True}
    try:
        subprocess.run(_as_owner([initdb, "-D", str(data), "-U", "coursewatch", "-A", "trust",
                                  "-E", "UTF8", "--no-sync"]), **run)  # type: ignore[call-overload]  # fmt: skip
        opts = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200")  # fmt: skip
        subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-o", opts,
                                  "-w", "start"]), **run)  # type: ignore[call-overload]  # fmt: skip
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}") from exc
    try:
        yield f"postgresql://coursewatch@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str) -> str:
    """A new, empty database on the server at ``url``: its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return url.rsplit("/", 1)[0] + f"/{name}"
