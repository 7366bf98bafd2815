"""Settings as platforms give them: DATABASE_URL, PORT, plain postgres:// and sqlite:/// URLs."""

from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for var in ("PAPERBOT_DATABASE_URL", "DATABASE_URL", "PAPERBOT_PORT", "PORT"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db.example:5432/app", "postgresql+psycopg://u:p@db.example:5432/app"),
        ("postgresql://u@db/app", "postgresql+psycopg://u@db/app"),
        ("sqlite:///data/x.db", "sqlite+aiosqlite:///data/x.db"),
        ("postgresql+psycopg://u@db/app", "postgresql+psycopg://u@db/app"),
    ],
)
def test_platform_database_url_is_read_and_mapped_to_the_async_driver(monkeypatch, given, used):
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings(_env_file=None).database_url == used


def test_paperbot_database_url_wins_over_database_url(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@platform/db")
    monkeypatch.setenv("PAPERBOT_DATABASE_URL", "sqlite:///mine.db")
    assert load_settings(_env_file=None).database_url == "sqlite+aiosqlite:///mine.db"


def test_a_bad_database_url_error_never_shows_its_password(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://admin:s3cret-pw@h/db")
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "DATABASE_URL" in message and "mysql://admin:***@h/db" in message


def test_port_is_read_when_paperbot_port_is_unset(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    assert load_settings(_env_file=None).port == 8123
    monkeypatch.setenv("PAPERBOT_PORT", "9000")
    assert load_settings(_env_file=None).port == 9000


def test_log_format_is_text_or_json(monkeypatch):
    monkeypatch.setenv("PAPERBOT_LOG_FORMAT", "json")
    assert load_settings(_env_file=None).log_format == "json"
    monkeypatch.setenv("PAPERBOT_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="PAPERBOT_LOG_FORMAT: expected text or json"):
        load_settings(_env_file=None)
