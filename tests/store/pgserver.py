"""A throwaway PostgreSQL server for the store tests, and the backend fixtures.

The server is real (Debian ``postgresql``): ``initdb`` into a temporary
directory, ``pg_ctl start`` listening on a Unix socket only, password
authentication (scram-sha-256) so credentials are exercised, stopped and
removed at the end of the session. ``initdb`` refuses to run as root, so as
root the cluster belongs to the ``postgres`` user (``runuser``). Each test
gets a fresh database. Where the server binaries or psycopg are absent the
PostgreSQL half of each test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "wp-test-s3cret"
USER = "wattprint"
PORT = 54329


def server_bindir() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian layout, or on PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PgServer:
    """A running server: its socket directory and how to reach it."""

    root: Path
    socket_dir: Path
    bindir: Path
    run_as: list[str]
    _names: itertools.count[int]

    def url(self, database: str, *, password: bool = True) -> str:
        """A URL for one database on this server (with or without the password)."""
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"postgresql://{auth}@/{database}?host={self.socket_dir}&port={PORT}"

    def new_database(self) -> str:
        """Create an empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        """Stop the server and remove its files."""
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(*, fsync: bool = False) -> PgServer:
    """Start a throwaway server (``fsync`` off for tests; on for a benchmark)."""
    bindir = server_bindir()
    if bindir is None:
        raise FileNotFoundError("initdb")
    root = Path(tempfile.mkdtemp(prefix="wattprint-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if run_as:
        shutil.chown(pwfile, "postgres")
    data = root / "data"
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", USER,
                    f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    options = (f"-k {root} -p {PORT} -c listen_addresses='' -c max_connections=300"
               f" -c fsync={'on' if fsync else 'off'}"
               f" -c synchronous_commit={'on' if fsync else 'off'}"
               " -c shared_buffers=256MB")
    subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-t", "60", "-l", str(root / "log"), "start"], check=True,
                   capture_output=True)
    return PgServer(root, root, bindir, run_as, itertools.count())


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session (skipped, with why, where none can start)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 is not installed (pip install 'wattprint[postgres]')")
    if server_bindir() is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found; install the "
                    "Debian package postgresql (`make test` does)")
    try:
        server = start_server()
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"the PostgreSQL test server did not start: {exc.stderr!r}")
    try:
        yield server
    finally:
        with contextlib.suppress(OSError):
            server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """A new, empty store of each backend: a SQLite file, or a PostgreSQL database URL."""
    if request.param == "sqlite":
        return tmp_path / "w.db"
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database()
