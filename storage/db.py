"""The database engine: SQLite (WAL, busy timeout) by default, PostgreSQL through psycopg 3."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from config.settings import hide_password

log = logging.getLogger(__name__)


class DatabaseError(Exception):
    """The database cannot be opened or migrated; the message names PAPERBOT_DATABASE_URL."""


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether this engine is SQLite (single-process mode)."""
    return engine.dialect.name == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory or other backends."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def create_engine(url: str) -> AsyncEngine:
    """An async engine for `url`; for SQLite the folder is created and WAL mode switched on."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite writes one transaction at a time anyway, and tasks queueing on
        # the pool cost far less than connections spinning in SQLite's busy handler.
        # Every use ends its own transaction (engine.begin() commits or rolls back, a closed
        # engine.connect() rolls back), so the pool's extra rollback on return, a thread hop
        # through aiosqlite each time, is skipped.
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=300,
            pool_reset_on_return=None,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    # A channel's advisory lock holds a connection while its work takes another: the pool must
    # fit two per channel served at once (bot.delivery.scheduler.CONCURRENCY) plus the rest of the bot.
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)


async def ping(engine: AsyncEngine) -> bool:
    """Whether the database answers."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except (SQLAlchemyError, OSError) as exc:
        log.warning("database ping failed: %s", exc)
        return False


async def open_database(url: str) -> AsyncEngine:
    """Create the engine, check it answers and apply migrations, or raise DatabaseError."""
    from storage.migrate import upgrade

    try:
        engine = create_engine(url)
    except ModuleNotFoundError as exc:  # the driver of an optional extra
        raise DatabaseError(
            f"PAPERBOT_DATABASE_URL: {_safe(url)} needs {exc.name}, which is not installed: "
            "pip install 'paperbot[postgres]'"
        ) from None
    except (SQLAlchemyError, OSError, ValueError) as exc:
        raise DatabaseError(f"PAPERBOT_DATABASE_URL: cannot open {_safe(url)}: {exc}") from None
    try:
        await upgrade(engine)
    except (SQLAlchemyError, OSError) as exc:
        await engine.dispose()
        reason = hide_password(str(getattr(exc, "orig", None) or exc).splitlines()[0])
        raise DatabaseError(f"PAPERBOT_DATABASE_URL: cannot open {_safe(url)}: {reason}") from None
    except CommandError as exc:  # a revision this paperbot does not know: a newer one wrote it
        await engine.dispose()
        raise DatabaseError(
            f"PAPERBOT_DATABASE_URL: {_safe(url)} was migrated by a newer paperbot ({exc}); "
            "run that version, or restore a backup from before the upgrade"
        ) from None
    return engine


def _safe(url: str) -> str:
    """The URL with any password hidden."""
    return make_url(url).render_as_string(hide_password=True)
