"""`GET /healthz` when no Slack HTTP front end serves it: `paperbot run` serves it alone."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import aiohttp
import pytest

from adapters.web.health import serve_health


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(port: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as resp,
    ):
        return resp.status, await resp.json()


async def test_paperbot_run_without_slack_over_http_serves_healthz_on_its_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        **os.environ,
        "PAPERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "PAPERBOT_SOURCES": "sample",
        "PAPERBOT_PORT": str(port),
        "PAPERBOT_LOG_LEVEL": "INFO",
    }
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from entry.cli import main; main()", "run",
        env=env, cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(60):  # its log says when it is up
            while b"paperbot running" not in (line := await proc.stderr.readline()):
                assert line, "paperbot run exited before it was up"
        assert await get(port) == (200, {"ok": True})
        proc.terminate()
        async with asyncio.timeout(60):
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    with pytest.raises(aiohttp.ClientConnectionError):  # and it is gone once the bot stops
        await get(port)


async def test_healthz_says_503_when_the_check_fails_and_a_taken_port_is_only_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def down() -> bool:
        raise OSError("database is unreachable")

    port = free_port()
    runner = await serve_health(down, "127.0.0.1", port)
    assert runner is not None
    try:
        assert await get(port) == (503, {"ok": False})
        assert await serve_health(down, "127.0.0.1", port) is None  # the port is taken
        assert f"health check not served on 127.0.0.1:{port}" in caplog.text
    finally:
        await runner.cleanup()
