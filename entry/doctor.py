"""`paperbot doctor`: is this installation ready to run? One line per check, with what to do.

Checks are small async functions returning Checks; platform checks are a registry
(`PLATFORM_CHECKS`) of functions that return None when their platform is not configured, so a
new platform adds its own (e.g. email's SMTP login) without touching the rest.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from config.settings import Settings, hide_password, smtp_server

USER_AGENT = "paperbot-doctor (+https://github.com/paperbot/paperbot)"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: what was looked at, and what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """`ok    name: detail`, or `FAIL  name: detail (fix: ...)`."""
        if self.ok:
            return f"ok    {self.name}: {self.detail}"
        return f"FAIL  {self.name}: {self.detail}" + (f"; fix: {self.fix}" if self.fix else "")


PlatformCheck = Callable[[Settings, httpx.AsyncClient], Awaitable[Check] | None]


def _missing(extra: str, module: str) -> Check | None:
    if importlib.util.find_spec(module) is None:
        return Check(extra, False, f"{module} is not installed", f"pip install 'paperbot[{extra}]'")
    return None


def check_slack(settings: Settings, http: httpx.AsyncClient) -> Awaitable[Check] | None:
    """Slack's `auth.test` with SLACK_BOT_TOKEN (when Slack is configured)."""
    if not (settings.slack_bot_token or settings.slack_app_token or settings.slack_signing_secret):
        return None

    async def run() -> Check:
        if missing := _missing("slack", "slack_bolt"):
            return missing
        if not settings.slack_bot_token:
            return Check("slack", False, "SLACK_BOT_TOKEN is not set", "set the xoxb- bot token")
        if not settings.slack_app_token and not settings.slack_signing_secret:
            return Check(
                "slack",
                False,
                "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
                "set SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP)",
            )
        url = settings.slack_api_url.rstrip("/") + "/auth.test"
        try:
            resp = await http.post(
                url, headers={"Authorization": f"Bearer {settings.slack_bot_token}"}
            )
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            return Check("slack", False, f"{url} unreachable: {exc}", "check the network")
        if not body.get("ok"):
            return Check(
                "slack",
                False,
                f"auth.test refused SLACK_BOT_TOKEN ({body.get('error', resp.status_code)})",
                "reinstall the app to the workspace and copy its new bot token",
            )
        return Check("slack", True, f"bot {body.get('user')} in {body.get('team')}")

    return run()


def check_discord(settings: Settings, http: httpx.AsyncClient) -> Awaitable[Check] | None:
    """Discord's `GET /users/@me` with DISCORD_BOT_TOKEN (when Discord is configured)."""
    if not settings.discord_bot_token:
        return None

    async def run() -> Check:
        if missing := _missing("discord", "discord"):
            return missing
        url = settings.discord_api_url.rstrip("/") + "/users/@me"
        try:
            resp = await http.get(
                url, headers={"Authorization": f"Bot {settings.discord_bot_token}"}
            )
        except httpx.HTTPError as exc:
            return Check("discord", False, f"{url} unreachable: {exc}", "check the network")
        if resp.status_code in (401, 403):
            return Check(
                "discord",
                False,
                f"/users/@me refused DISCORD_BOT_TOKEN (HTTP {resp.status_code})",
                "reset the bot's token in the Developer Portal and set the new one",
            )
        if resp.status_code >= 400:
            return Check("discord", False, f"{url} answered HTTP {resp.status_code}", "try later")
        return Check("discord", True, f"bot {resp.json().get('username')}")

    return run()


def check_smtp(settings: Settings, http: httpx.AsyncClient) -> Awaitable[Check] | None:
    """An SMTP login with PAPERBOT_SMTP_URL (`smtp://` or `smtps://user:pass@host:port`), by the
    email adapter's rules: STARTTLS whenever offered, and no password in clear text to any host
    but this machine; the sender and the public URL the digests need are set."""
    url = settings.smtp_url
    if not url:
        return None

    async def run() -> Check:
        import asyncio

        try:
            server = smtp_server(url)
        except ValueError as exc:
            return Check("email", False, f"PAPERBOT_SMTP_URL: {exc}", "fix PAPERBOT_SMTP_URL")
        for name, value, what in (
            ("PAPERBOT_EMAIL_FROM", settings.email_from, "the digests' sender"),
            ("PAPERBOT_PUBLIC_URL", settings.public_url, "where the unsubscribe links point"),
        ):
            if not value:
                return Check("email", False, f"{name} is not set", f"set it: {what}")

        def login() -> str | None:
            kind = smtplib.SMTP_SSL if server.implicit_tls else smtplib.SMTP
            with kind(server.host, server.port, timeout=settings.http_timeout) as smtp:
                tls = server.implicit_tls
                if not tls and smtp.has_extn("starttls"):
                    smtp.starttls()
                    tls = True
                if server.username is not None:
                    if not tls and not _loopback(server.host):
                        return f"{server} offers no STARTTLS: the password is not sent in clear"
                    smtp.login(server.username, server.password or "")
                smtp.noop()
            return None

        try:
            refused = await asyncio.to_thread(login)
        except smtplib.SMTPAuthenticationError as exc:
            return Check("email", False, f"{server} refused the login ({exc.smtp_code})",
                         "check the user and password in PAPERBOT_SMTP_URL")  # fmt: skip
        except (OSError, smtplib.SMTPException) as exc:
            return Check("email", False, f"{server} unreachable: {exc}", "check the host and port")
        if refused:
            return Check("email", False, refused, "use smtps://...:465 or a server with STARTTLS")
        return Check("email", True, f"logged in to {server.host}")

    return run()


def _loopback(host: str) -> bool:
    """Whether `host` is this machine (the one place a password may go without TLS)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


PLATFORM_CHECKS: list[PlatformCheck] = [check_slack, check_discord, check_smtp]


def source_urls(settings: Settings) -> list[tuple[str, str]]:
    """(source, URL) for one request per configured source (the bundled sample needs none)."""
    urls: list[tuple[str, str]] = []
    cats = "+".join(settings.arxiv_categories)
    for name in settings.sources:
        if name == "huggingface":
            urls.append((name, settings.huggingface_url.rstrip("/") + "/daily_papers"))
        elif name == "arxiv":
            if settings.arxiv_mode in ("rss", "both"):
                urls.append((name, f"{settings.arxiv_rss_url.rstrip('/')}/{cats}"))
            if settings.arxiv_mode in ("api", "both"):
                first = settings.arxiv_categories[0] if settings.arxiv_categories else "cs.AI"
                urls.append(
                    (name, f"{settings.arxiv_api_url}?search_query=cat:{first}&max_results=1")
                )
        elif name == "feed":
            urls.extend((name, url) for url in settings.feeds)
    return urls


async def check_source(name: str, url: str, http: httpx.AsyncClient) -> Check:
    """One GET of a source's URL."""
    try:
        resp = await http.get(url)
    except httpx.HTTPError as exc:
        return Check(f"source {name}", False, f"{url} unreachable: {exc or type(exc).__name__}",
                     "check the network or the URL setting")  # fmt: skip
    if resp.status_code >= 400:
        return Check(f"source {name}", False, f"{url} answered HTTP {resp.status_code}",
                     "check the URL (PAPERBOT_FEEDS, PAPERBOT_*_URL)")  # fmt: skip
    return Check(f"source {name}", True, f"{url} answered HTTP {resp.status_code}")


def check_kernel() -> Check:
    """Whether the matcher's compiled inner loops were built."""
    from bot.query.gather import BEST

    if BEST.name.startswith("compiled"):
        return Check("matcher", True, f"kernel {BEST.name}")
    return Check(
        "matcher",
        False,
        f"kernel {BEST.name} (several times slower)",
        "install a C compiler and Python headers (build-essential python3-dev), then reinstall",
    )


async def check_database(settings: Settings) -> Check:
    """Whether the database answers and is migrated to the newest revision."""
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from storage.db import create_engine
    from storage.migrate import alembic_config, current

    shown = hide_password(settings.database_url)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    try:
        engine = create_engine(settings.database_url)
    except ModuleNotFoundError as exc:
        return Check(
            "database", False, f"{shown} needs {exc.name}", "pip install 'paperbot[postgres]'"
        )
    try:
        rev = await current(engine)
    except (SQLAlchemyError, OSError) as exc:
        reason = hide_password(str(getattr(exc, "orig", None) or exc).splitlines()[0])
        return Check("database", False, f"{shown} unreachable: {reason}",
                     "check PAPERBOT_DATABASE_URL and that the server runs")  # fmt: skip
    finally:
        await engine.dispose()
    if rev != head:
        return Check("database", False, f"{shown} at revision {rev or 'none'}, not {head}",
                     "run `paperbot db upgrade` (paperbot run also does it at start)")  # fmt: skip
    return Check("database", True, f"{shown} at revision {rev} (the newest)")


async def run_checks(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> list[Check]:
    """Every check, in order: settings were read already; database, platforms, sources, kernel."""
    checks = [Check("settings", True, "read"), await check_database(settings)]
    async with httpx.AsyncClient(
        timeout=settings.http_timeout,
        follow_redirects=True,
        headers={"User-Agent": USER_AGENT},
        transport=transport,
    ) as http:
        for probe in PLATFORM_CHECKS:
            pending = probe(settings, http)
            if pending is not None:
                checks.append(await pending)
        if not any(c.name in ("slack", "discord", "email") for c in checks):
            checks.append(Check("platforms", True, "none set up (the terminal only)"))
        if "sample" in settings.sources:
            checks.append(Check("source sample", True, "the bundled papers (nothing to request)"))
        for name, url in source_urls(settings):
            checks.append(await check_source(name, url, http))
    checks.append(check_kernel())
    return checks
