"""Configuration read from the environment (design.md §4)."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE = PROJECT_ROOT / "instance"


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def load_or_create_secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, else from instance/secret_key (created once)."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written with owner-only permissions: the key signs sessions.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


class Config:
    """Production-shaped defaults; every value can be overridden by the environment."""

    def __init__(self, instance_path: Path | None = None) -> None:
        instance = Path(instance_path or os.environ.get("TRACKER_INSTANCE_PATH", DEFAULT_INSTANCE))
        self.INSTANCE_PATH = str(instance)
        self.SECRET_KEY = load_or_create_secret_key(instance)
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{instance / 'tracker.sqlite3'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.TRACKER_TIMEZONE = os.environ.get("TRACKER_TIMEZONE", "Asia/Shanghai")
        self.TRACKER_SCHEDULER = _bool("TRACKER_SCHEDULER", False)
        self.TRACKER_BASE_URL = os.environ.get("TRACKER_BASE_URL", "http://127.0.0.1:5000")

        # Evidence storage: a local folder by default, S3-compatible object storage when set.
        # S3 credentials come from the standard AWS variables / boto3 chain, never from here.
        self.TRACKER_STORAGE = os.environ.get("TRACKER_STORAGE", "local")
        self.TRACKER_STORAGE_PATH = os.environ.get("TRACKER_STORAGE_PATH", "")
        self.TRACKER_S3_BUCKET = os.environ.get("TRACKER_S3_BUCKET", "")
        self.TRACKER_S3_ENDPOINT_URL = os.environ.get("TRACKER_S3_ENDPOINT_URL", "")
        self.TRACKER_S3_REGION = os.environ.get("TRACKER_S3_REGION", "")
        self.TRACKER_S3_PREFIX = os.environ.get("TRACKER_S3_PREFIX", "")
        self.TRACKER_MAX_UPLOAD_MB = _int("TRACKER_MAX_UPLOAD_MB", 100)  # per file
        self.TRACKER_MAX_FILES_PER_UPLOAD = _int("TRACKER_MAX_FILES_PER_UPLOAD", 10)
        # The whole request: every file at its limit plus room for the form fields. A single file
        # over TRACKER_MAX_UPLOAD_MB is refused by the upload pipeline itself (413 with its name).
        self.MAX_CONTENT_LENGTH = (
            (self.TRACKER_MAX_UPLOAD_MB * self.TRACKER_MAX_FILES_PER_UPLOAD + 1) * 1024 * 1024
        )

        # Checklist traffic lights: red once overdue by more than the grace (working days),
        # yellow when due within the next N working days.
        self.TRACKER_DUE_SOON_WORKING_DAYS = _int("TRACKER_DUE_SOON_WORKING_DAYS", 3)
        self.TRACKER_OVERDUE_GRACE_WORKING_DAYS = _int("TRACKER_OVERDUE_GRACE_WORKING_DAYS", 0)

        # Reminders: the daily pass runs on working days from this local hour; the dispatcher
        # retries a failed send with exponential backoff, then gives up (an admin may retry).
        self.TRACKER_REMINDER_HOUR = _int("TRACKER_REMINDER_HOUR", 9)
        self.TRACKER_DISPATCH_MAX_ATTEMPTS = _int("TRACKER_DISPATCH_MAX_ATTEMPTS", 6)
        self.TRACKER_DISPATCH_BACKOFF_SECONDS = _int("TRACKER_DISPATCH_BACKOFF_SECONDS", 60)
        self.TRACKER_DISPATCH_BATCH = _int("TRACKER_DISPATCH_BATCH", 100)

        # SMTP for reminder emails (none: messages stay in the admin outbox page).
        self.MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
        self.MAIL_PORT = _int("MAIL_PORT", 25)
        self.MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
        self.MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "tracker@localhost")
        self.MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 10)  # seconds per SMTP connection
        # DingTalk robots are https; plain http only for a robot stand-in on loopback in tests.
        self.TRACKER_DINGTALK_ALLOW_HTTP = _bool("TRACKER_DINGTALK_ALLOW_HTTP", False)

        # Sessions: HttpOnly and SameSite always; Secure when served over HTTPS.
        secure = _bool("TRACKER_SECURE_COOKIES", False)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = secure
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = secure
        remember_days = _int("TRACKER_REMEMBER_DAYS", 14)
        if remember_days < 1:  # also how long any sign-in lasts: 0 would let nobody in
            raise ValueError(f"TRACKER_REMEMBER_DAYS must be at least 1, not {remember_days}")
        self.REMEMBER_COOKIE_DURATION = timedelta(days=remember_days)
        # A session cookie not rewritten for this long is refused (signed-in requests rewrite it).
        self.PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
        # Signed-in web sessions end after this many minutes without a request (0: never);
        # "remember me" sessions are exempt and end with the remember cookie instead.
        self.TRACKER_IDLE_MINUTES = _int("TRACKER_IDLE_MINUTES", 30)

        # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto (0: none, the
        # headers are ignored). HSTS is sent on HTTPS requests only.
        self.TRACKER_PROXY_HOPS = _int("TRACKER_PROXY_HOPS", 0)
        self.TRACKER_HSTS_SECONDS = _int("TRACKER_HSTS_SECONDS", 31536000)
        # JSON lines on stderr, one per request plus whatever the code logs.
        self.TRACKER_LOG_LEVEL = os.environ.get("TRACKER_LOG_LEVEL", "INFO")

        # Sign-in lock-out: this many failures inside the window lock the account.
        self.LOGIN_MAX_FAILURES = _int("TRACKER_LOGIN_MAX_FAILURES", 5)
        self.LOGIN_FAILURE_WINDOW = timedelta(minutes=_int("TRACKER_LOGIN_WINDOW_MINUTES", 15))
        self.LOGIN_LOCK_DURATION = timedelta(minutes=_int("TRACKER_LOGIN_LOCK_MINUTES", 15))

        self.BABEL_DEFAULT_LOCALE = "zh_CN"
        self.BABEL_DEFAULT_TIMEZONE = self.TRACKER_TIMEZONE
        self.BABEL_TRANSLATION_DIRECTORIES = str(PROJECT_ROOT / "tracker" / "translations")
        self.LANGUAGES = ["zh_CN", "en"]

        self.BOOTSTRAP_SERVE_LOCAL = True
        self.WTF_CSRF_TIME_LIMIT = None  # a form left open all morning must still submit
        # Rate limits: in this process's memory, or shared by every worker in Redis
        # (redis://host:6379/0). Should Redis fail, each process counts in memory meanwhile.
        self.RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_LOGIN = os.environ.get("TRACKER_RATELIMIT_LOGIN", "30 per minute")
        self.TRACKER_API_RATE_LIMIT = os.environ.get("TRACKER_API_RATE_LIMIT", "120 per minute")
        self.PER_PAGE = 50
        # Whole pages kept per worker for the checklist, review queue and dashboard
        # (tracker/page_cache.py); 0 turns the cache off.
        self.TRACKER_PAGE_CACHE_MB = _int("TRACKER_PAGE_CACHE_MB", 32)
        self.DEMO_PASSWORD = os.environ.get("TRACKER_DEMO_PASSWORD", "demo-tracker-2026")


class TestConfig(Config):
    """Configuration for the test suite: a database chosen by the suite, fast hashing."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, instance_path: Path, database_url: str) -> None:
        super().__init__(instance_path)
        self.TESTING = True
        self.SQLALCHEMY_DATABASE_URI = database_url
        self.TRACKER_SCHEDULER = False
        self.RATELIMIT_ENABLED = False
        # Tests move the frozen clock by days between requests; tests/hardening turn it on.
        self.TRACKER_IDLE_MINUTES = 0
        # ... and by months after signing in: sign-ins (services/sign_ins.py) last as long as
        # the remember cookie; tests/hardening set the real lifetime.
        self.REMEMBER_COOKIE_DURATION = timedelta(days=3650)
        # Tests write through factories, which keep no audit chain: pages are built afresh
        # unless a test turns the cache on (tests/integration/test_page_cache.py).
        self.TRACKER_PAGE_CACHE_MB = 0
        # Cheap argon2 parameters: the suite hashes hundreds of passwords.
        self.PASSWORD_HASH_FAST = True
