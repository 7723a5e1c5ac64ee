"""Configuration read from the environment; nothing secret is a literal here."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _secret_key(instance_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once into instance/."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _database_url(instance_dir: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Hosting platforms hand out postgres:// URLs; SQLAlchemy wants the driver named.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    instance_dir.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{instance_dir / 'portal.sqlite3'}"


def _trusted_hosts() -> list[str] | None:
    """PORTAL_TRUSTED_HOSTS=a.example,b.example: any other Host header gets a 400 instead of
    being reflected into redirects. Unset (development, tests): every host is accepted."""
    hosts = [h.strip() for h in os.environ.get("PORTAL_TRUSTED_HOSTS", "").split(",")]
    return [h for h in hosts if h] or None


def _engine_options(url: str) -> dict[str, Any]:
    """PORTAL_PGBOUNCER=transaction: PostgreSQL is reached through PgBouncer in transaction
    mode, where one client's transactions run on any server connection. psycopg prepares a
    statement after its fifth run on a connection, and the next transaction then finds it
    missing or already there (`DuplicatePreparedStatement`: seen with PgBouncer 1.18), so
    statements are not prepared. The portal keeps no other session state (no session-level
    SET, advisory lock, LISTEN or temporary table)."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql") and os.environ.get("PORTAL_PGBOUNCER") == "transaction":
        options["connect_args"] = {"prepare_threshold": None}
    return options


def load_config(instance_dir: Path = INSTANCE_DIR) -> dict[str, Any]:
    production = os.environ.get("PORTAL_ENV") == "production"
    url = _database_url(instance_dir)
    return {
        "TRUSTED_HOSTS": _trusted_hosts(),
        # How many reverse proxies in front append X-Forwarded-*; 0 trusts none of them.
        "PROXIES": int(os.environ.get("PORTAL_PROXIES", "0")),
        # Idle time after which a session ends: members on their own phone stay in for a
        # month; coordinators and admins, who can approve hours, after half a day.
        "IDLE_MEMBER_SECONDS": int(os.environ.get("PORTAL_IDLE_MEMBER_SECONDS", 30 * 86400)),
        "IDLE_STAFF_SECONDS": int(os.environ.get("PORTAL_IDLE_STAFF_SECONDS", 12 * 3600)),
        # The device cookie that lets a browser an account logged in from keep working
        # while unknown browsers guessing at that account are limited.
        "DEVICE_COOKIE_SECURE": production,
        "SECRET_KEY": _secret_key(instance_dir),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(url),
        "PRODUCTION": production,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("PORTAL_TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ["zh_CN", "en"],
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": False,
        # Argon2id; RFC 9106 second recommended option (64 MiB, t=3, p=4).
        "PASSWORD_HASH": {"time_cost": 3, "memory_cost": 65536, "parallelism": 4},
        "COMPRESS_MIMETYPES": [
            "text/html",
            "text/css",
            "text/csv",
            "application/javascript",
            "text/javascript",
            "image/svg+xml",
        ],
        "COMPRESS_ALGORITHM": ["gzip"],
        "COMPRESS_MIN_SIZE": 500,
        # zlib level 1, not Flask-Compress's 6: on our 5–85 KiB pages it takes 40–55 % less
        # CPU (a coordinator's roster: 4.3 -> 1.9 ms under load) for 5–14 % more bytes
        # (the 36 KiB approval queue: 3.9 -> 4.4 KiB on the wire).
        "COMPRESS_LEVEL": int(os.environ.get("PORTAL_COMPRESS_LEVEL", "1")),
        "PAGE_SIZE": 50,
        # A coordinator's queue page: 25 rows fit a phone and keep the page light.
        "APPROVALS_PAGE_SIZE": 25,
        # A coordinator's roster page: a team of hundreds is read and drawn 50 at a time.
        "ROSTER_PAGE_SIZE": 50,
        # Requests waiting too long are flagged on the coordinator's list.
        "REQUEST_STUCK_OPEN_HOURS": int(os.environ.get("REQUEST_STUCK_OPEN_HOURS", "24")),
        "REQUEST_STUCK_DISPATCHED_HOURS": int(
            os.environ.get("REQUEST_STUCK_DISPATCHED_HOURS", "4")
        ),
        # A verified resident's confirmation credits community-funded minutes on its own up
        # to the estimate + this percentage (at least + these minutes); beyond, a coordinator
        # approves (portal/services/credits.py).
        # 派单 by grid: party members' head start, and when an untaken request escalates.
        "GRID_PARTY_HEAD_START_MINUTES": int(os.environ.get("GRID_PARTY_HEAD_START_MINUTES", "30")),
        "GRID_ESCALATE_COORDINATOR_HOURS": int(
            os.environ.get("GRID_ESCALATE_COORDINATOR_HOURS", "24")
        ),
        "GRID_ESCALATE_STREET_HOURS": int(os.environ.get("GRID_ESCALATE_STREET_HOURS", "72")),
        "REQUEST_TOLERANCE_PERCENT": int(os.environ.get("REQUEST_TOLERANCE_PERCENT", "50")),
        "REQUEST_TOLERANCE_MINUTES": int(os.environ.get("REQUEST_TOLERANCE_MINUTES", "30")),
        # The kiosk (portal/services/kiosk.py): minutes at check-out are rounded to this; a
        # screen untouched this long goes back to the start (with a visible countdown); who
        # was identified is remembered between two taps for at most this long; the
        # confirmation stays this long.
        "KIOSK_ROUND_MINUTES": int(os.environ.get("KIOSK_ROUND_MINUTES", "5")),
        "KIOSK_IDLE_SECONDS": int(os.environ.get("KIOSK_IDLE_SECONDS", "20")),
        "KIOSK_IDENTIFY_SECONDS": 20,
        # Call-ups (portal/services/callups.py): everyone who came is credited at least this
        # many minutes, also when stood down on arrival.
        "CALLUP_MINIMUM_MINUTES": int(os.environ.get("CALLUP_MINIMUM_MINUTES", "30")),
        "KIOSK_CONFIRM_SECONDS": 5,
        # Reports: full-time equivalents are hours ÷ this many working hours a year
        # (250 days × 8 h).
        "REPORT_YEAR_HOURS": int(os.environ.get("REPORT_YEAR_HOURS", "2000")),
    }
