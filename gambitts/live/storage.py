"""Where a live study keeps everything: a SQL database through SQLAlchemy Core.

A SQLite file by default (write-ahead log on, so readers never block the writer); any
SQLAlchemy URL (e.g. PostgreSQL) for studies served by several machines. Every value is bound
as a parameter, never pasted into SQL.

Tables: ``meta`` (schema version, the study definition and its hash), ``decisions`` (number,
client's id, participant, context, cell, the floored probability vector, the prompt, the policy
version used, time), ``outcomes`` (per decision: ``z`` and/or reward, times, the policy version
that folded it in) and ``policies`` (version, observations folded in, time).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from gambitts.errors import InputError

#: Version of the tables' layout; a database of another version is refused.
SCHEMA_VERSION = "1"

METADATA = sa.MetaData()
META = sa.Table(
    "meta",
    METADATA,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
DECISIONS = sa.Table(
    "decisions",
    METADATA,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("client_id", sa.String(200), unique=True, nullable=True),
    sa.Column("participant", sa.String(200), nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("cell", sa.Integer, nullable=False),
    sa.Column("probabilities", sa.Text, nullable=False),
    sa.Column("prompt", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
OUTCOMES = sa.Table(
    "outcomes",
    METADATA,
    sa.Column("decision", sa.Integer, sa.ForeignKey("decisions.number"), primary_key=True),
    sa.Column("z", sa.Text, nullable=True),
    sa.Column("reward", sa.Float, nullable=True),
    sa.Column("z_at", sa.String(40), nullable=True),
    sa.Column("reward_at", sa.String(40), nullable=True),
    sa.Column("folded", sa.Integer, nullable=True),
)
POLICIES = sa.Table(
    "policies",
    METADATA,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n_observations", sa.Integer, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

FAILURES = sa.Table(
    "failures",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)


def database_url(location: str | os.PathLike) -> str:
    """Return the SQLAlchemy URL of ``location``: a URL as given, a path as a SQLite file."""
    text = str(location)
    return text if "://" in text else f"sqlite:///{Path(text).resolve()}"


def connect(url: str) -> sa.Engine:
    """Return an engine for ``url``; SQLite files get the write-ahead log and foreign keys."""
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection, _record) -> None:  # noqa: ANN001 - SQLAlchemy's signature
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

    return engine


def create_tables(engine: sa.Engine, definition: str, definition_hash: str) -> None:
    """Make the tables and write the study's definition; refuse a database already in use."""
    with engine.begin() as connection:
        if sa.inspect(connection).has_table("meta"):
            raise InputError(f"{engine.url!r} already holds a study; open it instead")
        METADATA.create_all(connection)
        connection.execute(
            sa.insert(META),
            [
                {"key": "schema_version", "value": SCHEMA_VERSION},
                {"key": "definition", "value": definition},
                {"key": "definition_hash", "value": definition_hash},
            ],
        )


def read_meta(engine: sa.Engine) -> dict[str, str]:
    """Return the ``meta`` table; refuse a database without one or of another schema."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("meta"):
            raise InputError(f"{engine.url!r} holds no study; make one with `study init`")
        meta = dict(connection.execute(sa.select(META.c.key, META.c.value)).all())
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise InputError(
            f"{engine.url!r} has study schema {meta.get('schema_version')!r}; this gambitts "
            f"reads schema {SCHEMA_VERSION!r}"
        )
    return meta
