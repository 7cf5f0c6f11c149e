"""Engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import (
    JSON,
    BigInteger,
    ClauseElement,
    DateTime,
    Insert,
    Integer,
    MetaData,
    Table,
    event,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeDecorator

from app.core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONDoc = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases.

    PostgreSQL keeps `timestamptz`; SQLite keeps naive UTC text, which sorts correctly
    as long as every value is UTC, so values are normalised on the way in and tagged
    with UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def to_text(value: datetime | None) -> str | None:
            # The text SQLite's DATETIME type writes, in one C call instead of a format string
            # (tests/core/test_db_types.py compares the two).
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            if value.tzinfo is not UTC:
                value = value.astimezone(UTC)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")

        return to_text

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        await self.engine.dispose()


def _prepare_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transactions into our own hands so that "begin" can be IMMEDIATE:
        # a deferred transaction that reads then writes fails at once with
        # SQLITE_BUSY under concurrency instead of waiting for the lock.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache (the default is 2 MiB): indexes of large tables stay in memory.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    # Parameters hold customers' e-mails and phones: an error's message and traceback, which
    # reach the logs, must not carry them.
    kwargs: dict[str, Any] = {
        "echo": settings.db_echo,
        "pool_pre_ping": True,
        "hide_parameters": True,
    }
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_async_engine(url, **kwargs)
        _prepare_sqlite(engine)
        return engine
    kwargs.update(pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow)
    return create_async_engine(url, **kwargs)


def create_database(settings: Settings) -> Database:
    engine = create_engine(settings)
    return Database(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    db: Database = request.app.state.db
    async with db.sessionmaker() as session, session.begin():
        yield session


# scope="function": commit before the response is sent, so a 2xx means the data is durable.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def dialect_name(session: AsyncSession) -> str:
    bind = session.get_bind()
    return bind.dialect.name


def insert_ignoring_conflicts(session: AsyncSession, table: Any, *index_elements: str) -> Any:
    """`INSERT … ON CONFLICT (cols) DO NOTHING` in the session's dialect."""
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


def core_insert(model: type[Base]) -> Insert:
    """INSERT into a model's table as plain Core: an executemany of many rows skips the ORM's
    per-row bookkeeping (several times faster for thousands of rows)."""
    table = model.__table__
    assert isinstance(table, Table)
    return insert(table)


def _repeats_once(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`convert`, remembering its last answer: a value repeated from row to row (the same
    timestamp or category object) is converted once."""
    last: list[Any] = [object(), None]

    def run(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return run


async def insert_tuples(
    session: AsyncSession, model: type[Base], columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT many rows, given as tuples in `columns` order (see `execute_tuples`)."""
    await execute_tuples(session, core_insert(model), columns, rows)


async def insert_rows(
    session: AsyncSession, model: type[Base], rows: Sequence[dict[str, Any]]
) -> None:
    """INSERT many rows given as dicts, through the driver's executemany (see `execute_tuples`):
    one statement per set of columns given. Each row gives every column but the primary key."""
    if rows:
        connection = await session.connection()
        for statement in _inserts(connection.dialect, model, rows):
            await connection.exec_driver_sql(*statement)


def _inserts(
    dialect: Dialect, model: type[Base], rows: Iterable[dict[str, Any]]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """(SQL, converted rows) of one INSERT per set of columns the dict rows give."""
    grouped: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row), []).append(tuple(row.values()))
    return [
        _driver_rows(dialect, core_insert(model), names, values)
        for names, values in grouped.items()
    ]


async def execute_tuples(
    session: AsyncSession,
    statement: ClauseElement,
    names: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """Run `statement` once per row, straight through the driver's executemany.

    Rows are tuples of the values of the statement's parameters (its columns for an INSERT),
    in `names` order. Each value still goes through its parameter type's own conversion (None
    stays NULL), but without the per-row bookkeeping of a Core executemany, which for
    thousands of rows costs more than the database does. Column defaults are not applied:
    every column the statement writes must be in `names`.
    """
    if rows:
        connection = await session.connection()
        await connection.exec_driver_sql(*_driver_rows(connection.dialect, statement, names, rows))


def _driver_rows(
    dialect: Dialect, statement: ClauseElement, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[str, list[tuple[Any, ...]]]:
    """(SQL, rows converted by each parameter's type, in the statement's parameter order)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    assert isinstance(compiled, SQLCompiler)
    order = compiled.positiontup
    assert order is not None, "a positional paramstyle is expected"
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in order if name not in index]
    if missing:
        raise ValueError(f"no value given for {', '.join(missing)}")
    # Column by column: one list comprehension per column costs far less than a generator
    # per row.
    columns: list[list[Any]] = []
    for name in order:
        pick = index[name]
        values = [row[pick] for row in rows]
        convert = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            once = _repeats_once(convert)
            values = [None if value is None else once(value) for value in values]
        columns.append(values)
    return str(compiled), list(zip(*columns, strict=True))


# Rows added with `queue_rows`, per session, until they are written.
_QUEUED = "touchpoint.queued_rows"


def queue_rows(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> None:
    """Rows to INSERT in the session's transaction, one executemany per table.

    Cheaper than ORM objects for rows nobody changes afterwards (history, outbox messages):
    they are written before the session's next statement, flush or commit, so a query in the
    same transaction sees them, and a rollback forgets them. (Nothing here uses savepoints; a
    rolled-back `begin_nested` would forget every row still queued, not only its own.)
    Each row gives every column but the primary key: no column default is applied.
    """
    queued: dict[type[Base], list[dict[str, Any]]]
    queued = session.sync_session.info.setdefault(_QUEUED, {})
    queued.setdefault(model, []).extend(rows)


def _write_queued(session: SyncSession) -> None:
    queued = session.info.pop(_QUEUED, None)
    if queued:
        connection = session.connection()
        for model, rows in queued.items():
            for statement in _inserts(connection.dialect, model, rows):
                connection.exec_driver_sql(*statement)


@event.listens_for(SyncSession, "do_orm_execute")
def _before_statement(state: ORMExecuteState) -> None:
    _write_queued(state.session)


@event.listens_for(SyncSession, "before_flush")
def _before_flush(session: SyncSession, _context: Any, _instances: Any) -> None:
    _write_queued(session)


@event.listens_for(SyncSession, "before_commit")
def _before_commit(session: SyncSession) -> None:
    _write_queued(session)


@event.listens_for(SyncSession, "after_soft_rollback")
def _after_rollback(session: SyncSession, _previous: Any) -> None:
    session.info.pop(_QUEUED, None)
