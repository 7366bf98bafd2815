"""Shared fixtures: a migrated database (SQLite, and PostgreSQL when configured), clock, app."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.commands.handler import CommandHandler
from bot.delivery.pipeline import Pipeline
from bot.models import Paper, Schedule
from bot.stores import Stores
from storage import build_stores
from storage.db import create_engine, open_database
from tests.fakes import FakeChat, FakeClock

PG_URL = os.environ.get("PAPERBOT_TEST_DATABASE_URL")
pg_reason = "PAPERBOT_TEST_DATABASE_URL is not set (PostgreSQL tests need a server)"


async def reset_postgres(url: str) -> None:
    """Drop everything paperbot created, so each test starts from an empty database."""
    engine = create_engine(url)
    async with engine.begin() as conn:  # every table the migrations made, whatever they are
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database URL of each backend: a fresh SQLite file, or the emptied test PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not PG_URL:
        pytest.skip(pg_reason)
    await reset_postgres(PG_URL)
    yield PG_URL


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = await open_database(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def stores(engine: AsyncEngine) -> Stores:
    return build_stores(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def chat() -> FakeChat:
    return FakeChat()


class ListSource:
    """A source that serves whatever papers the test puts in it."""

    name = "list"

    def __init__(self, papers: list[Paper] | None = None) -> None:
        self.papers = list(papers or [])
        self.error: Exception | None = None
        self.calls = 0

    async def fetch(self, since, cursor):  # type: ignore[no-untyped-def]
        from bot.ports import FetchResult

        self.calls += 1
        if self.error:
            raise self.error
        return FetchResult(papers=list(self.papers), cursor={"calls": str(self.calls)})

    async def aclose(self) -> None:
        pass


@pytest.fixture
def source() -> ListSource:
    return ListSource()


@pytest.fixture
async def pipeline(
    stores: Stores, chat: FakeChat, clock: FakeClock, source: ListSource
) -> Pipeline:
    """The real pipeline over the test database, with the fake chat answering through the real
    command handler (so `chat.command(...)` works in every test that uses a pipeline)."""
    pipe = Pipeline(stores, {"list": source}, {"console": chat}, clock)
    await chat.start(CommandHandler(pipe, Schedule()))
    return pipe


def paper(n: int | str, title: str, abstract: str = "", **kw: object) -> Paper:
    """A test paper with a canonical id."""
    return Paper(
        id=f"arxiv:2611.{int(n):05d}" if isinstance(n, int) else str(n),
        title=title,
        abstract=abstract,
        url=f"https://arxiv.org/abs/{n}",
        **kw,
    )  # type: ignore[arg-type]
