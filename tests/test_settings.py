"""Settings: names from PRODUCT.md, one clear line for a bad value."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings


def test_defaults(monkeypatch):
    for var in ("PAPERBOT_DATABASE_URL", "PAPERBOT_SOURCES", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings(_env_file=None)
    assert s.database_url == "sqlite+aiosqlite:///./data/paperbot.db"
    assert s.huggingface_url == "https://huggingface.co/api"
    assert s.arxiv_api_url == "https://export.arxiv.org/api/query"
    assert s.arxiv_rss_url == "https://rss.arxiv.org/rss"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.discord_api_url == "https://discord.com/api/v10"
    assert s.port == 3000 and s.slack_bot_token is None


def test_lists_from_comma_separated_environment(monkeypatch):
    monkeypatch.setenv("PAPERBOT_SOURCES", "sample, arxiv")
    monkeypatch.setenv("PAPERBOT_ARXIV_CATEGORIES", "cs.CV,cs.LG")
    monkeypatch.setenv("PAPERBOT_ADMIN_USERS", "U1 U2")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    s = load_settings(_env_file=None)
    assert s.sources == ["sample", "arxiv"]
    assert s.arxiv_categories == ["cs.CV", "cs.LG"]
    assert s.admin_users == ["U1", "U2"]
    assert s.slack_bot_token == "xoxb-1"


@pytest.mark.parametrize(
    ("var", "value", "expected"),
    [
        ("PAPERBOT_PORT", "abc", "PAPERBOT_PORT: Input should be a valid integer"),
        ("PAPERBOT_PORT", "70000", "PAPERBOT_PORT:"),
        ("PAPERBOT_SOURCES", "arxiv,bogus", "PAPERBOT_SOURCES: unknown source 'bogus'"),
        ("PAPERBOT_DEFAULT_TIMEZONE", "Mars/Base", "PAPERBOT_DEFAULT_TIMEZONE: unknown time zone"),
        ("PAPERBOT_DATABASE_URL", "mysql://x", "PAPERBOT_DATABASE_URL: expected sqlite+aiosqlite"),
        (
            "PAPERBOT_HUGGINGFACE_URL",
            "ftp://x",
            "PAPERBOT_HUGGINGFACE_URL: expected an http(s) URL",
        ),
        ("PAPERBOT_ADMINS_ONLY", "perhaps", "PAPERBOT_ADMINS_ONLY:"),
        (
            "PAPERBOT_FEEDS",
            "https://lab.example/rss,https://[fe80::1/feed",
            "PAPERBOT_FEEDS: 'https://[fe80::1/feed' is not an http(s) feed URL",
        ),
        ("DISCORD_GUILD_ID", "guild", "DISCORD_GUILD_ID:"),
    ],
)
def test_a_bad_setting_fails_with_one_line_naming_it(monkeypatch, var, value, expected):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_example_env_documents_every_setting_and_loads(monkeypatch, tmp_path):
    from pathlib import Path

    from config.settings import Settings, env_name

    example = (Path(__file__).parent.parent / "config" / "example.env").read_text()
    names = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    for field in Settings.model_fields:
        assert env_name(field) in names, (
            f"{env_name(field)} is not documented in config/example.env"
        )
    (tmp_path / ".env").write_text(example)
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.slack_bot_token is None and s.discord_guild_id is None and s.feeds == []
