"""`paperbot run` start-up: the closing line names only what runs, a platform unreachable at
start is tried again with backoff, bad credentials keep it off; /metrics beside /healthz."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import SimpleNamespace

import aiohttp
import pytest

from bot.models import Command, Reply
from bot.ports import ChatAuthError, TransientChatError
from config.settings import Settings
from entry.runner import keep_starting, run_bot
from tests.slack_standin import SlackStandin


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FlakyChat:
    """A platform whose first `fails` starts raise the given errors."""

    platform = "flaky"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.starts = 0

    async def start(self, on_command: object) -> None:
        self.starts += 1
        if self.errors:
            raise self.errors.pop(0)


def fake_app() -> SimpleNamespace:
    """What keep_starting reads of an App: the pipeline's disabled platforms."""
    return SimpleNamespace(pipeline=SimpleNamespace(disabled_platforms={}))


async def handler(command: Command) -> Reply:
    return Reply("ok")


async def test_an_unreachable_platform_is_tried_again_with_growing_waits() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    chat = FlakyChat(TransientChatError("connection refused"), TransientChatError("refused"))
    app = fake_app()
    assert await keep_starting("flaky", chat, handler, TransientChatError("down"), app,  # type: ignore[arg-type]
                               sleep=sleep, first=1.0, most=60.0)  # fmt: skip
    assert chat.starts == 3  # two more refusals, then started
    assert waits[0] == 1.0 and len(waits) == 3 and waits[2] >= 2.0  # backing off
    assert app.pipeline.disabled_platforms == {}


async def test_bad_credentials_on_a_retry_keep_the_platform_off() -> None:
    async def sleep(seconds: float) -> None:
        pass

    chat = FlakyChat(TransientChatError("refused"), ChatAuthError("invalid_auth"))
    app = fake_app()
    assert not await keep_starting("flaky", chat, handler, TransientChatError("down"), app,  # type: ignore[arg-type]
                                   sleep=sleep)  # fmt: skip
    assert chat.starts == 2
    assert app.pipeline.disabled_platforms == {"flaky": "flaky not started: invalid_auth"}


async def _run_until_up(settings: Settings, caplog: pytest.LogCaptureFixture, then=None) -> str:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()

    async def no_wait(seconds: float) -> None:
        await asyncio.sleep(0)

    caplog.set_level(logging.INFO)
    task = asyncio.create_task(run_bot(settings, stop, sleep=no_wait))
    try:
        async with asyncio.timeout(30):
            while not any("paperbot running" in r.getMessage() for r in caplog.records):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.05)
            if then is not None:
                await then()
    finally:
        stop.set()
        await task
    return next(r.getMessage() for r in caplog.records if "paperbot running" in r.getMessage())


def _settings(tmp_path, **values) -> Settings:  # type: ignore[no-untyped-def]
    base = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "sources": ["sample"],
        "port": free_port(),
        "slack_bot_token": None,
        "slack_app_token": None,
        "slack_signing_secret": None,
        "discord_bot_token": None,
    }
    return Settings(_env_file=None, **(base | values))  # type: ignore[arg-type]


async def test_a_revoked_slack_token_is_not_listed_as_running(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    async with SlackStandin() as slack:
        slack.revoked = True
        settings = _settings(tmp_path, slack_bot_token=slack.bot_token, slack_signing_secret="s",
                             slack_api_url=slack.api_url)  # fmt: skip
        line = await _run_until_up(settings, caplog)
    assert line == "paperbot running: sources sample; platforms console; not started: slack"


async def test_no_chat_platform_is_said_in_one_line_and_metrics_are_served_alone(
    tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(tmp_path)
    seen: dict[str, str] = {}

    async def scrape() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # the first poll of the sample source runs at start
                async with session.get(f"http://127.0.0.1:{settings.port}/metrics") as resp:
                    seen["metrics"] = await resp.text()
                    seen["type"] = resp.headers["Content-Type"]
                if 'paperbot_papers_stored_total{source="sample"} 276.0' in seen["metrics"]:
                    break
                await asyncio.sleep(0.1)

    line = await _run_until_up(settings, caplog, scrape)
    assert line == "paperbot running: sources sample; platforms console"
    warnings = [r.getMessage() for r in caplog.records if "no chat platform" in r.getMessage()]
    assert len(warnings) == 1
    assert seen["type"].startswith("text/plain")
    text = seen["metrics"]
    assert 'paperbot_papers_stored_total{source="sample"} 276.0' in text
    assert 'paperbot_polls_total{source="sample"} 1.0' in text
    assert "paperbot_papers 276.0" in text
    assert 'paperbot_deliveries{state="pending"} 0.0' in text


async def test_slack_unreachable_at_start_comes_up_and_serves_metrics_and_commands(
    tmp_path, caplog
) -> None:  # type: ignore[no-untyped-def]
    async with SlackStandin() as slack:
        slack.fail("auth.test", "internal_error", status=503)  # Slack down at the first try
        settings = _settings(tmp_path, slack_bot_token=slack.bot_token, slack_signing_secret="s",
                             slack_api_url=slack.api_url)  # fmt: skip
        seen: dict[str, str] = {}

        async def scrape() -> None:
            async with aiohttp.ClientSession() as session:
                for _ in range(100):
                    try:
                        async with session.get(f"http://127.0.0.1:{settings.port}/metrics") as r:
                            seen["metrics"] = await r.text()
                            break
                    except aiohttp.ClientConnectionError:  # Slack's server not up yet
                        await asyncio.sleep(0.1)

        line = await _run_until_up(settings, caplog, scrape)
    messages = [r.getMessage() for r in caplog.records]
    assert any("slack unreachable at start" in m for m in messages)
    assert any("slack started after being unreachable" in m for m in messages)
    assert "not started" not in line
    assert "paperbot_polls_total" in seen["metrics"]
