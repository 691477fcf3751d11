"""Real database servers for tests and benchmarks: a PostgreSQL and a Redis of their own, on
loopback, in a temporary folder, stopped and removed at the end.

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
import time
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


class Postgres:
    """A PostgreSQL server of its own on 127.0.0.1 (a free port), in ``folder``: ``url``
    (database ``postgres``, user ``coursewatch``, no password: trust on loopback); it can
    be stopped and started again (a restart under load)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql://coursewatch@127.0.0.1:{self.port}/postgres"
        self._pg_ctl = _pg_bin("pg_ctl")

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run([_pg_bin("initdb"), "-D", str(self.data), "-U", "coursewatch", "-A", "trust",
                   "-E", "UTF8", "--no-sync"])  # fmt: skip

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200")  # fmt: skip
        self._run([self._pg_ctl, "-D", str(self.data), "-l", str(self.folder / "log"),
                   "-o", opts, "-w", "start"])  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run([self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def pids(self) -> list[int]:
        """The server's processes now: the postmaster and its children."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        out = [main]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == main:
                    out.append(int(stat.parent.name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        return out

    def _run(self, cmd: list[str]) -> None:
        try:
            subprocess.run(_as_owner(cmd), check=True, capture_output=True)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {exc.stderr!r}") from exc


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A :class:`Postgres` started, stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="coursewatch-pg-"))
    pg = Postgres(folder)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        with contextlib.suppress(RuntimeError):
            pg.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(url: str) -> str:
    """A new, empty database on the server at ``url``: its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return url.rsplit("/", 1)[0] + f"/{name}"


class Redis:
    """A ``redis-server`` of its own on 127.0.0.1 (a free port), in ``folder``, with its
    append-only file written at every command (what a tracker was told is stored survives a
    kill of Redis too): ``url``; it can be stopped and started again (Redis down)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceMissing("redis-server not found: scripts/test.sh installs it")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                "--logfile", str(self.folder / "log")]  # fmt: skip
        self._proc = subprocess.Popen(
            [binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        import redis

        client = redis.Redis.from_url(self.url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited: see {self.folder / 'log'}") from None
                time.sleep(0.025)
        client.close()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None


@contextlib.contextmanager
def redis_server() -> Iterator[Redis]:
    """A :class:`Redis` started, stopped and removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="coursewatch-redis-"))
    server = Redis(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
