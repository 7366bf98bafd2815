"""`paperbot doctor`: one line per check, what to do about a failure, exit 0 only if all pass."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from alembic.script import ScriptDirectory

from bot.query.gather import COMPILED
from config.settings import Settings
from entry.doctor import run_checks
from storage.db import open_database
from storage.migrate import alembic_config
from tests.discord_standin import DiscordStandIn
from tests.slack_standin import SlackStandin

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
async def feeds() -> AsyncIterator[str]:
    """A local HTTP server: /ok answers 200, anything else 404."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="<rss/>")

    app = web.Application()
    app.add_routes([web.get("/ok", ok)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def settings(tmp_path, **values) -> Settings:  # type: ignore[no-untyped-def]
    base = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "sources": ["sample"],
        "slack_bot_token": None,
        "slack_app_token": None,
        "slack_signing_secret": None,
        "discord_bot_token": None,
    }
    return Settings(_env_file=None, **(base | values))  # type: ignore[arg-type]


async def migrated(s: Settings) -> None:
    engine = await open_database(s.database_url)
    await engine.dispose()


async def test_everything_passing_is_one_ok_line_per_check(tmp_path, feeds) -> None:  # type: ignore[no-untyped-def]
    async with SlackStandin() as slack, DiscordStandIn() as discord:
        s = settings(tmp_path, sources=["feed"], feeds=[f"{feeds}/ok"],
                     slack_bot_token=slack.bot_token, slack_app_token="xapp-1",
                     slack_api_url=slack.api_url, discord_bot_token=discord.token,
                     discord_api_url=discord.api_url)  # fmt: skip
        await migrated(s)
        checks = await run_checks(s)
    lines = [c.line() for c in checks]
    assert [c.name for c in checks] == [
        "settings",
        "database",
        "slack",
        "discord",
        "source feed",
        "matcher",
    ]
    assert (
        lines[1].startswith("ok    database: sqlite+aiosqlite:///") and "(the newest)" in lines[1]
    )
    assert lines[2] == "ok    slack: bot paperbot in Stand-in Lab"
    assert lines[3].startswith("ok    discord: bot ")
    assert lines[4] == f"ok    source feed: {feeds}/ok answered HTTP 200"
    assert all(c.ok for c in checks[:-1])


async def test_each_failure_says_what_to_do(tmp_path, feeds) -> None:  # type: ignore[no-untyped-def]
    async with SlackStandin() as slack, DiscordStandIn() as discord:
        s = settings(tmp_path, sources=["feed", "huggingface"], feeds=[f"{feeds}/gone"],
                     huggingface_url="http://127.0.0.1:1/api",
                     slack_bot_token="xoxb-wrong", slack_app_token="xapp-1",
                     slack_api_url=slack.api_url, discord_bot_token="wrong",
                     discord_api_url=discord.api_url)  # fmt: skip
        checks = {c.name: c.line() for c in await run_checks(s)}  # the database never migrated
    assert checks["database"].endswith(
        f"at revision none, not {HEAD}; fix: run `paperbot db upgrade` (paperbot run also does it at start)"
    )
    assert checks["slack"] == (
        "FAIL  slack: auth.test refused SLACK_BOT_TOKEN (invalid_auth); "
        "fix: reinstall the app to the workspace and copy its new bot token"
    )
    assert checks["discord"].startswith(
        "FAIL  discord: /users/@me refused DISCORD_BOT_TOKEN (HTTP 401); fix:"
    )
    assert checks["source feed"] == (
        f"FAIL  source feed: {feeds}/gone answered HTTP 404; "
        "fix: check the URL (PAPERBOT_FEEDS, PAPERBOT_*_URL)"
    )
    assert checks["source huggingface"].startswith(
        "FAIL  source huggingface: http://127.0.0.1:1/api/daily_papers unreachable:"
    )


async def test_an_unreachable_database_hides_its_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings(tmp_path, database_url="postgresql+psycopg://bot:hunter2@127.0.0.1:1/db",
                 http_timeout=2)  # fmt: skip
    check = (await run_checks(s))[1]
    assert not check.ok and "hunter2" not in check.line()
    assert check.line().startswith(
        "FAIL  database: postgresql+psycopg://bot:***@127.0.0.1:1/db unreachable"
    )


async def test_the_command_exits_0_only_when_every_check_passes(tmp_path, feeds) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    env |= {"PAPERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "PAPERBOT_SOURCES": "feed", "PAPERBOT_FEEDS": f"{feeds}/ok"}  # fmt: skip
    await migrated(settings(tmp_path))

    async def doctor() -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from entry.cli import main; main()", "doctor",
            env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await doctor()
    assert code == (0 if COMPILED else 1), out
    assert out.splitlines()[-1] == ("5 of 5" if COMPILED else "4 of 5") + " checks passed."
    env["PAPERBOT_FEEDS"] = f"{feeds}/gone"
    code, out = await doctor()
    assert code == 1 and "FAIL  source feed:" in out
