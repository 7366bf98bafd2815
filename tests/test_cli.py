"""The `paperbot` command line, end to end on a temporary SQLite database."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from entry.cli import cli

runner = CliRunner()
CH = "console:local:general"


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)


def invoke(*args: str):
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result


def test_subscribe_poll_digest_twice_then_search_json():
    r = invoke("command", "--channel", CH, "subscribe diffusion")
    assert r.exit_code == 0 and "Subscribed to diffusion (#1)" in r.output

    r = invoke("poll", "--source", "sample")
    assert r.exit_code == 0 and "sample: 276 new, 0 updated" in r.output

    r = invoke("digest", "--channel", CH)
    assert r.exit_code == 0
    assert "New papers" in r.output and "1. " in r.output and "matched: diffusion" in r.output
    assert "Posted 10 papers to console:local:general" in r.output

    r = invoke("digest", "--channel", CH)
    assert "Nothing posted" in r.output and "1. " not in r.output

    r = invoke("search", "diffusion", "--json", "--limit", "5")
    rows = json.loads(r.output)
    assert len(rows) == 5
    assert {"id", "title", "authors", "url", "upvotes", "first_seen", "matched_terms"} <= set(
        rows[0]
    )
    assert all("diffusion" in row["matched_terms"] for row in rows)
    assert all(
        "diffusion" in (row["title"]).lower() for row in rows[:3]
    )  # title matches rank first


def test_dry_run_posts_nothing():
    invoke("command", "--channel", CH, "subscribe diffusion")
    invoke("poll")
    r = invoke("digest", "--channel", CH, "--dry-run")
    assert "1. " in r.output
    r = invoke("digest", "--channel", CH)
    assert "Posted 10 papers" in r.output


def test_bad_channel_id_is_one_clear_error():
    r = invoke("command", "--channel", "general", "list")
    assert r.exit_code == 2
    assert "invalid channel id 'general': expected platform:workspace:channel" in r.output


def test_names_are_printed_as_typed_not_as_markup_or_emoji():
    invoke("command", "--channel", "console:a:b", "subscribe video")
    r = invoke("digest", "--channel", "console:a:b")
    assert "Nothing posted to console:a:b" in r.output
    r = invoke("command", "--channel", "twitter:a:[/]", "list")
    assert r.exit_code == 2 and "invalid channel id 'twitter:a:[/]'" in r.output


def test_a_digest_for_a_mistyped_channel_creates_nothing():
    invoke("command", "--channel", CH, "subscribe diffusion")
    r = invoke("digest", "--channel", "console:local:genral")
    assert r.exit_code == 2 and "no channel console:local:genral" in r.output
    assert "genral" not in invoke("status").output


def test_while_the_bot_runs_on_sqlite_the_cli_does_not_post(tmp_path):
    from storage.locks import ProcessFileLock

    invoke("command", "--channel", CH, "subscribe diffusion")
    invoke("poll")
    bot = ProcessFileLock(tmp_path / "cli.db")  # what `paperbot run` holds while it runs
    bot.acquire()
    try:
        for args in (("digest", "--channel", CH), ("command", "--channel", CH, "digest")):
            r = invoke(*args)
            assert r.exit_code == 2, r.output
            assert "is posting from" in r.output and "/papers digest" in r.output
        assert invoke("command", "--channel", CH, "list").exit_code == 0  # reading is fine
        assert "1. " in invoke("digest", "--channel", CH, "--dry-run").output
    finally:
        bot.release()
    assert "Posted 10 papers" in invoke("digest", "--channel", CH).output


def test_bad_command_exits_nonzero_with_message():
    r = invoke("command", "--channel", CH, "subscribe")
    assert r.exit_code == 1 and "Give a query" in r.output


def test_unopenable_database_names_the_setting(monkeypatch):
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    r = invoke("status")
    assert r.exit_code == 2
    assert (
        "PAPERBOT_DATABASE_URL: cannot open postgresql+psycopg://nobody@127.0.0.1:1/none"
        in r.output
    )


def test_a_database_from_a_newer_paperbot_is_one_clear_error(tmp_path):
    import sqlite3

    invoke("status")  # creates and migrates cli.db
    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffff'")
    r = invoke("status")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "was migrated by a newer paperbot" in r.output and "ffffffff" in r.output


def test_bad_setting_names_it(monkeypatch):
    monkeypatch.setenv("PAPERBOT_PORT", "eighty")
    r = invoke("status")
    assert r.exit_code == 2 and "PAPERBOT_PORT" in r.output


@pytest.mark.parametrize(
    ("tokens", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET: required for Slack over HTTP"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN: required to run in Slack"),
    ],
)
def test_half_a_slack_set_up_is_one_line_naming_what_is_missing(monkeypatch, tokens, named):
    for name, value in tokens.items():
        monkeypatch.setenv(name, value)
    r = invoke("run")
    assert r.exit_code == 2
    assert r.output.startswith(f"error: {named}")
    assert "Traceback" not in r.output


def test_status_shows_sources_and_channels():
    invoke("command", "--channel", CH, "subscribe diffusion")
    invoke("poll")
    invoke("digest", "--channel", CH)
    r = invoke("status")
    assert "papers stored: 276" in r.output
    assert "sample" in r.output and "ok" in r.output
    assert "console:local:general" in r.output and "09:00 UTC daily" in r.output


def test_pages_set_aside_show_in_status_and_requeue_posts_them_again(tmp_path):
    import sqlite3

    assert "Nothing is set aside." in invoke("requeue").output
    invoke("command", "--channel", CH, "subscribe diffusion")
    invoke("poll")
    invoke("digest", "--channel", CH)
    with sqlite3.connect(tmp_path / "cli.db") as db:  # as if the platform had refused the page
        db.execute("UPDATE deliveries SET state = 'rejected', last_error = 'invalid_blocks'")

    r = invoke("status")
    assert "set aside" in r.output and "paperbot requeue" in r.output
    assert f"  {CH}: invalid_blocks" in r.output  # and why
    row = next(line for line in r.output.splitlines() if line.startswith(f"│ {CH}"))
    assert row.split("│")[-2].strip() == "10"  # the set-aside column

    r = invoke("requeue", "--channel", CH)
    assert "Requeued 10 papers in 1 message(s) for console:local:general" in r.output
    r = invoke("digest", "--channel", CH)
    assert "Posted 10 papers to console:local:general in 1 message(s)" in r.output
    assert "Nothing is set aside." in invoke("requeue").output


def test_db_upgrade():
    r = invoke("db", "upgrade")
    assert r.exit_code == 0 and "revision 0015" in r.output


def test_demo_runs_from_the_installed_script(tmp_path):
    script = [sys.executable, "-c", "from entry.cli import main; main()", "demo"]
    done = subprocess.run(script, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "sample: 276 new papers stored" in done.stdout
    assert "1. " in done.stdout and "matched:" in done.stdout
