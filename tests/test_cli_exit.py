"""Exit codes a script can use, a channel a command touched, a manual poll and the backoff,
JSON logs."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from bot.delivery.pipeline import Pipeline
from entry.cli import cli
from tests.slack_standin import SlackStandin

runner = CliRunner()
CH = "console:local:general"


@pytest.fixture
def env(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def test_a_channel_that_answered_list_exists_for_digest(env) -> None:  # type: ignore[no-untyped-def]
    assert runner.invoke(cli, ["command", "--channel", CH, "list"]).exit_code == 0
    r = runner.invoke(cli, ["digest", "--channel", CH])
    assert r.exit_code == 0, r.output
    assert r.output.strip() == f"Nothing posted to {CH}: the channel follows nothing yet"


def test_a_refused_list_creates_no_channel(env) -> None:  # type: ignore[no-untyped-def]
    r = runner.invoke(cli, ["command", "--channel", CH, "list everything"])
    assert r.exit_code == 1
    r = runner.invoke(cli, ["digest", "--channel", CH])
    assert r.exit_code == 2 and f"no channel {CH}" in r.output


async def test_a_digest_nothing_could_be_posted_of_exits_1(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ch = "slack:T0STANDIN:C0GENERAL"
    async with SlackStandin() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
        env |= {
            "PAPERBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "PAPERBOT_SOURCES": "sample",
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": "s",
            "PAPERBOT_SLACK_API_URL": slack.api_url,
        }

        async def paperbot(*args: str) -> tuple[int, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from entry.cli import main; main()", *args, env=env,
                cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out, _ = await proc.communicate()
            return proc.returncode or 0, out.decode()

        assert (await paperbot("command", "--channel", ch, "subscribe diffusion"))[0] == 0
        assert (await paperbot("poll"))[0] == 0
        slack.revoked = True
        code, out = await paperbot("digest", "--channel", ch)
    assert code == 1, out
    assert "Nothing posted to slack:T0STANDIN:C0GENERAL: slack posting stopped" in out
    assert "will retry" not in out and "will be retried" not in out
    assert "papers are waiting in the ledger: `paperbot run` posts them" in out


class Failing:
    name = "list"

    async def fetch(self, since, cursor):  # type: ignore[no-untyped-def]
        raise OSError("network down")

    async def aclose(self) -> None:
        pass


async def test_a_manual_poll_that_fails_leaves_the_bots_backoff_alone(stores, clock, chat) -> None:  # type: ignore[no-untyped-def]
    pipe = Pipeline(stores, {"list": Failing()}, {"console": chat}, clock)
    await pipe.poll("list")  # the bot's own poll fails: it backs off
    before = await stores.sources.get("list")
    assert before.failures == 1 and before.next_poll_at == clock() + timedelta(hours=1)
    clock.advance(minutes=5)
    report = await pipe.poll("list", force=True)  # `paperbot poll`
    after = await stores.sources.get("list")
    assert report.error == "OSError: network down"
    assert (after.failures, after.next_poll_at) == (before.failures, before.next_poll_at)
    assert after.last_error_at == clock()  # the error is still recorded


def test_json_logs_are_one_object_per_line(env, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    import logging

    from entry.cli import _settings

    monkeypatch.setenv("PAPERBOT_LOG_FORMAT", "json")
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = []
    try:
        _settings(service=True)
        logging.getLogger("paperbot.test").warning("feed %s failed", "x")
        for h in root.handlers:
            h.flush()
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers = saved
    record = json.loads(line)
    assert record["level"] == "WARNING" and record["message"] == "feed x failed"
    assert record["logger"] == "paperbot.test" and record["time"].endswith("+00:00")
