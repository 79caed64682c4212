"""The engine: SQLite in WAL mode with a busy timeout, or PostgreSQL, behind one API."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from weakref import WeakKeyDictionary

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only

SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "intl_events_read_only"  # execution option of read-only sessions
WRITER_WAIT_S = 60  # how long a transaction waits for the process's SQLite writer connection

PoolWaited = Callable[..., None]  # (seconds, *, timed_out=False): a checkout's wait observed


class InlineSqliteConnection(aiosqlite.Connection):
    """aiosqlite's connection, its calls run in the event loop instead of its thread.

    A statement of the bot takes SQLite microseconds; handing each call to aiosqlite's
    thread and back cost the event loop about a hundred, twenty times per update. Here a
    call runs in place with no busy timeout; only when another process holds the write
    lock (SQLITE_BUSY) is it repeated in the worker thread, which waits up to the busy
    timeout, so the loop itself never waits for a lock. Within the process the writers
    take turns on the engine's single connection (see `create_engine`), so they never
    meet SQLite's lock at all.
    """

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        return await super()._execute(_waiting_for_lock, self._connection, fn, args, kwargs)


def _waiting_for_lock(
    connection: sqlite3.Connection, fn: Callable[..., Any], args: Any, kwargs: Any
) -> Any:
    """`fn` again with the busy timeout on (in the worker thread), then off again."""
    connection.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_MS)}")
    try:
        return fn(*args, **kwargs)
    finally:
        connection.execute("PRAGMA busy_timeout=0")


async def _connect_inline(database: str) -> InlineSqliteConnection:
    connector = partial(sqlite3.connect, database, timeout=0, check_same_thread=False)
    return await InlineSqliteConnection(connector, iter_chunk_size=64)


class _RowsLeftOut(logging.Filter):
    """SQLAlchemy's DEBUG log of each fetched row carries what people typed: kept out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Row "):
            record.msg, record.args = "Row (values not logged)", ()
        return True


def keep_values_out_of_logs() -> None:
    """Whatever the log level, SQLAlchemy logs no stored values: statements' parameters
    are hidden by the engines (`hide_parameters`, also in error messages), rows here."""
    engine_log = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _RowsLeftOut) for f in engine_log.filters):
        engine_log.addFilter(_RowsLeftOut())


class TimedQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, telling `waited` how long each checkout took (the
    wait for a free connection, or for a new one to connect), and when one gave up after
    the pool's timeout. Subclassed per engine (`timed_pool`), so a recreated pool keeps it.
    """

    waited: ClassVar[PoolWaited]
    # Log as SQLAlchemy's own pool does (under "sqlalchemy", quiet below WARNING).
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def _do_get(self) -> Any:
        started = time.monotonic()
        try:
            entry = super()._do_get()
        except PoolTimeout:
            type(self).waited(time.monotonic() - started, timed_out=True)
            raise
        type(self).waited(time.monotonic() - started)
        return entry


# SQLAlchemy names a pool's logger after its class ("storage.db.TimedQueuePool"), outside
# the "sqlalchemy" loggers it keeps at WARNING: without this, "Pool recreating" and the
# pool's status would be INFO lines of the bot's own log (and the CLI's one-line errors).
logging.getLogger(f"{TimedQueuePool.__module__}.{TimedQueuePool.__name__}").setLevel(
    logging.WARNING
)


def timed_pool(waited: PoolWaited) -> type[TimedQueuePool]:
    """A `TimedQueuePool` class reporting to `waited`."""
    return type("TimedQueuePool", (TimedQueuePool,), {"waited": staticmethod(waited)})


def create_engine(
    url: str,
    *,
    read_only: bool = False,
    pool_waited: PoolWaited | None = None,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for `url`; SQLite gets WAL, a busy timeout and write-ready transactions.

    A SQLite file gets one connection per process, running in the event loop (see
    `InlineSqliteConnection`): transactions queue for it in order, and hand it on as soon
    as they end. `read_only` engines (the report compiler) keep aiosqlite's threads and a
    pool of their own: WAL readers never wait for the writer, nor the writer for them.

    `pool_waited`, if given, is told how long each connection checkout took (see
    `TimedQueuePool`); `kwargs` go to SQLAlchemy (`pool_size`, `pool_timeout`, ...).
    """
    keep_values_out_of_logs()
    kwargs.setdefault("hide_parameters", True)  # people's texts and names: never logged
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and (parsed.database or "") in (
        "",
        ":memory:",
    )
    if pool_waited is not None and not in_memory:
        kwargs.setdefault("poolclass", timed_pool(pool_waited))
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, **kwargs)
        ping_by_beginning(engine)
        return engine

    database = parsed.database or ""
    in_file = bool(database) and database != ":memory:" and not database.startswith("file:")
    if in_file:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    inline = in_file and not read_only
    if inline:
        kwargs = {
            "async_creator": partial(_connect_inline, str(Path(database).expanduser())),
            "pool_size": 1,
            "max_overflow": 0,
            "pool_timeout": WRITER_WAIT_S,
            **kwargs,
        }
    else:
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs}
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={0 if inline else SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two transactions that read and then write
        # wait for each other (busy timeout) instead of failing with "database is locked".
        # Read-only sessions (see create_sessionmaker) take no lock: WAL readers never wait.
        sql = "BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
        if inline:  # straight on the driver: SQLAlchemy's execution costs more than SQLite's
            _begin_on_driver(connection, sql)
        else:
            connection.exec_driver_sql(sql)

    return engine.execution_options(**{READ_ONLY: True}) if read_only else engine


# Set while `PgStatement.run_alone` checks a connection out: handed out without the BEGIN
# of `ping_by_beginning` (the statement itself is the ping).
_UNBEGUN: ContextVar[bool] = ContextVar("intl_events_unbegun", default=False)


def ping_by_beginning(engine: AsyncEngine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, without its round trips.

    `pool_pre_ping` pings every connection the pool hands out: on asyncpg three round
    trips (BEGIN, an empty query, ROLLBACK) before the BEGIN of the update's own
    transaction. Here the transaction is begun as the connection is handed out (asyncpg's
    adapter would begin it at the first statement, which follows at once), and that BEGIN
    is the ping: a connection the server closed (a restart, `pg_terminate_backend`) fails
    it, and the pool replaces the connection before anything is run on it, as after a
    failed pre-ping (SQLAlchemy's "checkout" event raising DisconnectionError). A
    connection that dies after its BEGIN fails that update, as it could after a ping.
    Nothing else changes: SQLAlchemy commits or rolls back the transaction as before
    (an AUTOCOMMIT connection rolls it back when its isolation level is set). A
    connection checked out for a statement run alone (`PgStatement.run_alone`) is handed
    out as it is: that statement is its ping.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _handed_out(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if _UNBEGUN.get():
            return
        begin = getattr(dbapi_connection, "_start_transaction", None)
        if begin is None:  # not asyncpg's adapter: the plain pre-ping
            try:
                dbapi_connection.ping()
            except Exception as error:
                raise DisconnectionError("the connection did not answer a ping") from error
            return
        if dbapi_connection._transaction is not None:
            return
        try:
            await_only(begin())
        except Exception as error:
            raise DisconnectionError("the connection could not begin a transaction") from error


def create_sessionmaker(
    engine: AsyncEngine, *, read_only: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit.

    `read_only` sessions are for readers that never write (the report compiler): on SQLite
    they start a plain transaction, so they neither take nor wait for the write lock (and
    may run while the update's own session holds it).
    """
    if read_only:
        engine = engine.execution_options(**{READ_ONLY: True})
    return async_sessionmaker(engine, expire_on_commit=False)


# The session of the update being handled (set by the bot's session middleware), so the FSM
# storage writes in the same transaction as the handler instead of opening its own.
current_session: ContextVar[AsyncSession | None] = ContextVar("current_session", default=None)


T = TypeVar("T")


def for_dialect(session: AsyncSession | Session, choices: Mapping[str, T], what: str) -> T:
    """`choices` for the session's database (`sqlite` or `postgresql`); any other database
    is refused, naming `what` has no version for it."""
    name = session.get_bind().dialect.name
    try:
        return choices[name]
    except KeyError:
        raise NotImplementedError(f"no {what} for the {name!r} dialect") from None


class SqliteStatement:
    """A fixed Core statement run straight on a session's SQLite driver connection.

    SQLAlchemy's execution machinery (execution context, cursor wrapper, result object,
    greenlet hops) costs about 50 µs of pure Python per statement, more than SQLite's own
    work; the statements every update runs (the claim, the FSM row's read and write) skip
    it on SQLite. The SQL and the order of its parameters come from compiling `statement`
    for SQLite, the values go through the columns' own bind and result processors, and
    the statement runs in the session's transaction, which SQLAlchemy began (BEGIN
    IMMEDIATE, with its events) and will commit or roll back. Other databases use
    `statement` through the session as usual.
    """

    def __init__(self, statement: Any, result_types: Sequence[Any] = ()) -> None:
        self.statement = statement
        self._result_types = result_types
        self._compiled: WeakKeyDictionary[Any, _Compiled] = WeakKeyDictionary()
        self._ready: WeakKeyDictionary[Any, _Ready] = WeakKeyDictionary()

    def _prepare(self, dialect: Any) -> _Compiled:
        """Compiled once per dialect (an engine's JSON serializer is its dialect's)."""
        compiled = self._compiled.get(dialect)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect)
            names = list(statement.positiontup or ())
            # Each type as adapted to the dialect (SQLite's DATETIME has its own format).
            binds = [
                statement.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in names
            ]
            results = [
                kind.dialect_impl(dialect).result_processor(dialect, None)
                for kind in self._result_types
            ]
            compiled = self._compiled[dialect] = (str(statement), names, binds, results)
            # The same, ready for each call: the values in order, and only what processes.
            self._ready[dialect] = (
                str(statement),
                _getter(names),
                [(at, process) for at, process in enumerate(binds) if process is not None],
                [(at, process) for at, process in enumerate(results) if process is not None],
            )
        return compiled

    def _args(self, dialect: Any, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        ready = self._ready.get(dialect)
        if ready is None:
            self._prepare(dialect)
            ready = self._ready[dialect]
        sql, values_of, processed, _ = ready
        args = values_of(params)
        for at, process in processed:
            args[at] = process(args[at])
        return sql, args

    def _rows(self, dialect: Any, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        self._prepare(dialect)
        processed = self._ready[dialect][3]
        if not processed:
            return [tuple(row) for row in rows]
        done = []
        for row in rows:
            values = list(row)
            for at, process in processed:
                values[at] = process(values[at])
            done.append(tuple(values))
        return done

    async def fetch(
        self, session: AsyncSession, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows, processed as SQLAlchemy would (SQLite sessions only)."""
        dialect, rows = await self._on_driver(session, params, _all_rows)
        return self._rows(dialect, rows)

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed (SQLite sessions only)."""
        _, changed = await self._on_driver(session, params, _rowcount)
        return int(changed)

    async def _on_driver(
        self, session: AsyncSession, params: Mapping[str, Any], call: _DriverCall
    ) -> tuple[Any, Any]:
        """`call` on the driver connection of the session's transaction (begun if need
        be); its errors raised as SQLAlchemy's, a connection found gone invalidated."""
        connection, driver = await driver_of(session)
        sql, args = self._args(connection.dialect, params)
        try:
            return connection.dialect, await call(driver, sql, args)
        except (sqlite3.Error, ValueError) as error:
            if _is_disconnect(connection.dialect, error):
                await connection.invalidate(error)
            raise _wrapped(error, sql, args) from error

    async def run_many(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row of parameters, in one executemany (SQLite sessions only).

        A value met again in the same column (a date, the import's timestamp) is
        processed once."""
        connection, driver = await driver_of(session)
        sql, names, binds, _ = self._prepare(connection.dialect)
        in_order = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        processed = [(at, process, {}) for at, process in enumerate(binds) if process]
        args = []
        for row in rows:
            values = list(in_order(row))
            for at, process, cache in processed:
                value = values[at]
                if value is not None:
                    done = cache.get(value, cache)
                    if done is cache:
                        done = cache[value] = process(value)
                    values[at] = done
            args.append(values)
        try:
            await driver.executemany(sql, args)
        except (sqlite3.Error, ValueError) as error:
            if _is_disconnect(connection.dialect, error):
                await connection.invalidate(error)
            raise _wrapped(error, sql, args) from error

    def run_sync(self, session: Session, params: Mapping[str, Any]) -> int:
        """`run` from synchronous code inside the AsyncSession's greenlet (a session event)."""
        connection = session.connection()
        sql, args = self._args(connection.dialect, params)
        try:
            return await_only(_rowcount(connection.connection.driver_connection, sql, args))
        except (sqlite3.Error, ValueError) as error:
            if _is_disconnect(connection.dialect, error):
                connection.invalidate(error)
            raise _wrapped(error, sql, args) from error


class DriverStatement:
    """A fixed Core statement run straight on the session's driver connection, whichever
    the session's database: `SqliteStatement` on SQLite, `PgStatement` on PostgreSQL (the
    bot's two; see bot.settings). For the statements the dialogue runs at its steps: they
    see what the session's transaction sees, but the session is not flushed first (unlike
    an ORM statement), the rows come back as tuples, not as objects of the session, and
    objects of the session are not told of rows deleted or changed."""

    def __init__(self, statement: Any, result_types: Sequence[Any] = ()) -> None:
        self.statement = statement
        self._sqlite = SqliteStatement(statement, result_types)
        self._pg = PgStatement(statement, result_types)

    async def fetch(
        self, session: AsyncSession, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows, processed as SQLAlchemy would."""
        driven = self._sqlite if is_sqlite(session) else self._pg
        return await driven.fetch(session, params)

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed."""
        driven = self._sqlite if is_sqlite(session) else self._pg
        return await driven.run(session, params)

    def processed(
        self, session: AsyncSession, rows: Sequence[Sequence[Any]]
    ) -> list[tuple[Any, ...]]:
        """Rows of this statement's columns read by another statement (an aggregate of
        them read along: storage/repositories/periods.py), processed as `fetch` would."""
        driven = self._sqlite if is_sqlite(session) else self._pg
        return driven._rows(session.get_bind().dialect, rows)


def detached(cls: type[T], values: Iterable[tuple[str, Any]]) -> T:
    """An instance of the mapped `cls` holding the column `values` (key, value), as if it
    had been loaded and its session closed: what `make_transient_to_detached(cls(**values))`
    makes, without the constructor's attribute events (three times the cost). A copy of a
    stored row to read; it is in no session, so changing it changes nothing stored."""
    instance = manager_of_class(cls).new_instance()
    instance_state(instance).dict.update(values)
    make_transient_to_detached(instance)
    return instance


def _begin_on_driver(connection: Any, sql: str) -> None:
    """`sql` (a BEGIN) on the driver connection under a sync `connection`, from inside the
    AsyncSession's greenlet (the engine's "begin" event); errors raised as SQLAlchemy's."""
    try:
        await_only(_rowcount(connection.connection.driver_connection, sql, []))
    except (sqlite3.Error, ValueError) as error:
        if _is_disconnect(connection.dialect, error):
            connection.invalidate(error)
        raise _wrapped(error, sql, []) from error


class PgStatement(SqliteStatement):
    """A fixed Core statement run straight on a session's asyncpg connection.

    What `SqliteStatement` does for SQLite, for PostgreSQL: the SQL (with its `$n`
    parameters and casts) and the order of the parameters come from compiling `statement`
    for the session's dialect, the values go through the columns' bind and result
    processors (JSON as text, as SQLAlchemy's asyncpg dialect hands it over), and the
    statement runs in the session's transaction, which SQLAlchemy began (`ping_by_beginning`)
    and will commit or roll back (`run_alone`: in no transaction at all). It skips
    SQLAlchemy's execution machinery, not its events: `before_cursor_execute` listeners
    are told of each statement (the tests that cut the connection at a given statement,
    the statement counts of bench/), and its errors are SQLAlchemy's (IntegrityError,
    OperationalError, ...), parameters hidden, a connection found gone invalidated.
    """

    def __init__(self, statement: Any, result_types: Sequence[Any] = ()) -> None:
        super().__init__(statement, result_types)
        # Values fixed in the statement itself (`.not_like("job:%")`), by dialect.
        self._fixed: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()

    def _args(self, dialect: Any, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        fixed = self._fixed.get(dialect)
        if fixed is None:
            binds = self.statement.compile(dialect=dialect).binds
            fixed = self._fixed[dialect] = {
                name: bind.value for name, bind in binds.items() if not bind.required
            }
        return super()._args(dialect, {**fixed, **params} if fixed else params)

    async def fetch(
        self, session: AsyncSession, params: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """The rows, processed as SQLAlchemy would (PostgreSQL sessions only)."""
        dialect, rows = await self._on_asyncpg(session, params, _pg_rows)
        return self._rows(dialect, rows)

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed (PostgreSQL sessions only)."""
        _, changed = await self._on_asyncpg(session, params, _pg_rowcount)
        return int(changed)

    async def run_alone(self, engine: AsyncEngine, params: Mapping[str, Any]) -> int:
        """Run it in no transaction, on a connection of `engine`'s pool; the number of rows
        it changed (PostgreSQL engines only).

        One round trip: PostgreSQL runs a statement sent outside a transaction block as a
        transaction of its own (autocommit), so there is no BEGIN, nor COMMIT, and the
        connection is handed out without `ping_by_beginning`'s BEGIN: the statement is the
        ping. A connection found gone is invalidated (the DBAPIError says
        `connection_invalidated`; the pool connects anew before handing its place out
        again), and the statement is not repeated here: whether it may be is the caller's
        to say. Any other connection goes back to the pool as it came, outside any
        transaction, whether the statement succeeded or failed (SQLAlchemy's rollback on
        return does nothing on asyncpg's adapter when it began none).
        """
        unbegun = _UNBEGUN.set(True)
        try:
            connection = await engine.connect()
        finally:
            _UNBEGUN.reset(unbegun)
        try:
            sync = connection.sync_connection
            assert sync is not None
            adapted = sync.connection.dbapi_connection
            if adapted._transaction is not None:  # the statement would be rolled back
                raise RuntimeError("a connection handed out to run_alone is in a transaction")
            dialect = sync.dialect
            sql, args = self._args(dialect, params)
            _tell_listeners(sync, sql, args)
            try:
                return await _pg_rowcount(adapted.driver_connection, sql, args)
            except Exception as error:
                raise await _pg_error(connection, adapted, error, sql, args) from error
        finally:
            await connection.close()

    async def _on_asyncpg(
        self, session: AsyncSession, params: Mapping[str, Any], call: _DriverCall
    ) -> tuple[Any, Any]:
        connection, adapted, _ = await _connection_of(session, valid=True)
        sync = connection.sync_connection
        assert sync is not None
        dialect = sync.dialect
        sql, args = self._args(dialect, params)
        _tell_listeners(sync, sql, args)
        try:
            if adapted._transaction is None:  # begun at checkout, unless committed since
                await adapted._start_transaction()
            return dialect, await call(adapted.driver_connection, sql, args)
        except Exception as error:
            raise await _pg_error(connection, adapted, error, sql, args) from error


def _tell_listeners(sync: Any, sql: str, args: list[Any]) -> None:
    """SQLAlchemy's `before_cursor_execute` listeners told of a statement run on the
    driver (as SQLAlchemy's execution would tell them)."""
    if sync._has_events or sync.engine._has_events:
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, sql, args, None, False)


async def _pg_error(
    connection: Any, adapted: Any, error: Exception, sql: str, args: list[Any]
) -> Exception:
    """An asyncpg error as SQLAlchemy raises it (its DBAPI error wrapped in DBAPIError);
    the connection invalidated when the error says it is gone."""
    try:
        adapted._handle_exception(error)  # raises asyncpg's error as the DBAPI's
    except Exception as translated:  # re-raised wrapped, as SQLAlchemy does
        dbapi_error: BaseException = translated
    else:  # pragma: no cover - _handle_exception always raises
        dbapi_error = error
    dialect = connection.dialect
    gone = isinstance(dbapi_error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
        dbapi_error, adapted, None
    )
    wrapped = DBAPIError.instance(
        sql,
        args,
        dbapi_error,  # type: ignore[arg-type]
        dialect.loaded_dbapi.Error,
        hide_parameters=connection.sync_engine.hide_parameters,
        dialect=dialect,
        connection_invalidated=gone,
    )
    if gone:
        await connection.invalidate(dbapi_error)
    return wrapped


async def _pg_rows(driver: Any, sql: str, args: list[Any]) -> Any:
    return await driver.fetch(sql, *args)


async def _pg_rowcount(driver: Any, sql: str, args: list[Any]) -> int:
    status = await driver.execute(sql, *args)  # "INSERT 0 1", "DELETE 3", ...
    count = status.rpartition(" ")[2]
    return int(count) if count.isdigit() else -1


_DriverCall = Callable[[Any, str, list[Any]], Awaitable[Any]]


async def _all_rows(driver: Any, sql: str, args: list[Any]) -> Any:
    return await driver.execute_fetchall(sql, args)


async def _rowcount(driver: Any, sql: str, args: list[Any]) -> int:
    cursor = await driver.execute(sql, args)
    try:
        return int(cursor.rowcount)
    finally:
        await cursor.close()


_Compiled = tuple[str, list[str], list[Any], list[Any]]  # SQL, names, binds, results
# SQL, the parameters' values in order (a list), (position, processor) of binds and results
_Ready = tuple[str, Callable[[Mapping[str, Any]], list[Any]], list[Any], list[Any]]


def _getter(names: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """The values of `names` from a mapping, as a new list, in one C call where it can."""
    if not names:
        return lambda _params: []
    if len(names) == 1:
        name = names[0]
        return lambda params: [params[name]]
    get = itemgetter(*names)
    return lambda params: list(get(params))


def _is_disconnect(dialect: Any, error: BaseException) -> bool:
    """A connection that is gone: aiosqlite's "no active connection" or "Connection
    closed", or what SQLAlchemy's SQLite dialect calls one."""
    if isinstance(error, ValueError):
        message = str(error).lower()
        return "no active connection" in message or "connection closed" in message
    return bool(dialect.is_disconnect(error, None, None))


def _wrapped(error: BaseException, sql: str, args: list[Any]) -> DBAPIError | StatementError:
    """The error as SQLAlchemy raises it (OperationalError, IntegrityError, ...)."""
    return DBAPIError.instance(sql, args, error, sqlite3.Error)  # type: ignore[arg-type]


_DRIVER = "intl_events_driver"  # session.info: (transaction, connection, DBAPI, driver)


async def driver_of(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The connection of the session's transaction (begun if need be) and its driver
    connection (see `_connection_of`)."""
    connection, _, driver = await _connection_of(session)
    return connection, driver


async def _connection_of(
    session: AsyncSession, *, valid: bool = False
) -> tuple[AsyncConnection, Any, Any]:
    """The connection of the session's transaction (begun if need be), its DBAPI
    connection (asyncpg's adapter, aiosqlite's) and its driver connection.

    Asked for the first time in a transaction, SQLAlchemy is asked (two greenlet hops);
    after that, while the same root transaction is active (and, with `valid`, its
    connection not invalidated: SQLAlchemy is asked again, which refuses it), they come
    from `session.info`: a transaction keeps its connection until it ends, and a new
    transaction is a new object, so an entry of an ended one is never used again."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_DRIVER)
    if (
        known is not None
        and transaction is not None
        and known[0] is transaction
        and transaction.is_active
        and not (valid and known[1].invalidated)
    ):
        return known[1], known[2], known[3]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    dbapi, driver = raw.dbapi_connection, raw.driver_connection
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection, dbapi, driver)
    return connection, dbapi, driver


def is_sqlite(session: AsyncSession | Session) -> bool:
    return bool(session.get_bind().dialect.name == "sqlite")
