"""A real PostgreSQL server for the live-study tests, started for them and stopped after.

Debian's ``postgresql`` package (``.ci/run`` installs it): ``initdb`` a cluster in a temporary
folder owned by the ``postgres`` user, ``pg_ctl start`` it on a free port of 127.0.0.1, and
make a fresh database for every test. Where no server can be had the PostgreSQL tests skip,
saying why; on CI they fail.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

_COUNTER = itertools.count()


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is needed on CI: {reason}")
    pytest.skip(f"no PostgreSQL here: {reason}")


def _as_postgres(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["su", "postgres", "-c", command], capture_output=True, text=True)


@pytest.fixture(scope="session")
def postgresql_server():
    """Yield ``(host, port)`` of a PostgreSQL server of the tests' own."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not binaries:
        _unavailable("the postgresql package is not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="PostgreSQL needs `pip install -e '.[test]'`")
    if os.geteuid() != 0:
        _unavailable("starting a server as the postgres user needs root")
    # Not under pytest's temporary folders: the postgres user cannot traverse those.
    folder = Path(tempfile.mkdtemp(prefix="gambitts-postgresql-"))
    shutil.chown(folder, "postgres")
    bin_dir = binaries[-1]
    made = _as_postgres(f"{bin_dir}/initdb -D {folder}/data -A trust -U postgres")
    if made.returncode != 0:
        _unavailable(f"initdb failed: {made.stderr[-300:]}")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    started = _as_postgres(
        f"{bin_dir}/pg_ctl -D {folder}/data -o '{options}' -l {folder}/log -w start"
    )
    if started.returncode != 0:
        _unavailable(f"pg_ctl start failed: {started.stderr[-300:]}")
    try:
        yield "127.0.0.1", port
    finally:
        _as_postgres(f"{bin_dir}/pg_ctl -D {folder}/data -m fast stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """Where a test's study lives: a SQLite file, or a fresh database on the server."""
    if request.param == "sqlite":
        return str(tmp_path / "study.db")
    import sqlalchemy as sa

    host, port = request.getfixturevalue("postgresql_server")
    name = f"study_{os.getpid()}_{next(_COUNTER)}"
    admin = sa.create_engine(
        f"postgresql+psycopg://postgres@{host}:{port}/postgres", isolation_level="AUTOCOMMIT"
    )
    quoted = admin.dialect.identifier_preparer.quote(name)  # DDL cannot bind a name
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE DATABASE " + quoted))
    admin.dispose()
    return f"postgresql+psycopg://postgres@{host}:{port}/{name}"
