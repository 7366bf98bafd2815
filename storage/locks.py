"""Per-channel locks: PostgreSQL advisory locks across replicas, or one process on SQLite."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.models import ChannelRef
from storage.db import sqlite_path


def _key(ref: ChannelRef) -> int:
    """A stable signed 64-bit key for the channel."""
    digest = hashlib.blake2b(f"paperbot:{ref}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AdvisoryLocks:
    """pg_try_advisory_lock on a connection held for the lock's life: a crashed holder's
    session ends and its locks go with it, so no lease or clean-up is needed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def hold(self, ref: ChannelRef) -> AsyncIterator[bool]:
        """Yield whether this process now holds the channel's lock."""
        key = _key(ref)
        async with self.engine.connect() as conn:
            got = bool(
                (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
            )
            await conn.commit()
            try:
                yield got
            finally:
                if got:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    await conn.commit()


class ProcessLocks:
    """In-process locks for SQLite, where one process is the documented mode."""

    def __init__(self) -> None:
        self._held: set[ChannelRef] = set()  # (only those held now: a sweep of every channel
        # leaves nothing behind)

    @asynccontextmanager
    async def hold(self, ref: ChannelRef) -> AsyncIterator[bool]:
        """Yield whether this task now holds the channel's lock (False if another task does)."""
        if ref in self._held:
            yield False
            return
        self._held.add(ref)
        try:
            yield True
        finally:
            self._held.discard(ref)


class AlreadyRunning(Exception):
    """Another paperbot process holds the SQLite database (`holder`: its pid, or "?")."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


def holding_database(database_url: str) -> ExitStack:
    """The SQLite database's process lock, held until the returned stack is closed (use it as
    `with`); nothing to hold for PostgreSQL. Raises AlreadyRunning when another process has it:
    `paperbot run` for its whole life, a CLI command that posts for its own."""
    held = ExitStack()
    path = sqlite_path(database_url)
    if path is not None:
        lock = ProcessFileLock(path)
        lock.acquire()
        held.callback(lock.release)
    return held


class ProcessFileLock:
    """An exclusive lock file beside the SQLite database, released by the OS when we die."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunning with the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise AlreadyRunning(
                f"another paperbot (pid {holder}) is already running on {self.path.with_suffix('')}; "
                "SQLite supports one process: stop it, or use PostgreSQL for several replicas",
                holder,
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        """Let go of the lock."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
