"""One settings module; every value that varies comes from the environment (see README)."""

from __future__ import annotations

from datetime import timedelta
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import dj_database_url

from partnersite.env import envbool, envint, envjson_dict, envlist, envpath, envstr, secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
# django-ninja's templates and static files (the API docs page) without listing "ninja" in
# INSTALLED_APPS, which would import it and pydantic at every command's start (80 ms).
NINJA_DIR = Path(find_spec("ninja").origin).parent  # type: ignore[union-attr, arg-type]

SECRET_KEY = secret_key()
DEBUG = envbool("DJANGO_DEBUG", "0")
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

# Production behind TLS (DJANGO_HTTPS=1): redirect to HTTPS, HSTS, cookies only over HTTPS,
# and trust the proxy's X-Forwarded-Proto. `manage.py check --deploy` is clean with it.
if envbool("DJANGO_HTTPS", "0"):
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

INSTALLED_APPS = [
    "django.contrib.admin.apps.SimpleAdminConfig",  # autodiscover in urls.py: fast commands
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "import_export",
    "axes",
    "partners",
]

MIDDLEWARE = [
    "partners.middleware.ApiMiddleware",  # outermost: request id, latency, JSON errors, log
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its page
]

ROOT_URLCONF = "partnersite.urls"
WSGI_APPLICATION = "partnersite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates", NINJA_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        # Obsidian notes (Markdown, not HTML): Jinja2 renders 100,000 partners in about half
        # the time Django's engine takes. A folder in PARTNERS_NOTE_TEMPLATES_DIR overrides
        # templates/obsidian/oem_note.md and oem_index.md.
        "NAME": "obsidian",
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [
            *(
                [envpath("PARTNERS_NOTE_TEMPLATES_DIR", "", BASE_DIR)]
                if envstr("PARTNERS_NOTE_TEMPLATES_DIR", "")
                else []
            ),
            BASE_DIR / "templates" / "obsidian",
        ],
        "APP_DIRS": False,
        "OPTIONS": {
            "autoescape": False,
            "trim_blocks": True,
            "lstrip_blocks": True,
            "keep_trailing_newline": True,
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    config: dict[str, Any] = dict(
        dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Several processes may write: wait for the lock instead of failing, take the write
        # lock when a transaction starts (no deadlock on upgrade), and let readers run
        # beside the writer (WAL). Connections are kept (CONN_MAX_AGE) as on PostgreSQL.
        # Optimization: opening one (Django's functions, the journal mode) cost 0.8 ms of
        # CPU, a third of an API page's. A new database gets 16 KiB pages (an existing one
        # keeps its own): a 100,000-record apply writes ~120 MB of pages through the WAL and
        # its checkpoint, a quarter as many reads and writes as with 4 KiB pages (its write
        # 1.07 -> 0.91 s, in process, alternating).
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA page_size=16384; PRAGMA journal_mode=WAL",
        }
        # A file, not memory, so tests can run real concurrent processes against it.
        config["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # psycopg prepares a query the server binds (`partners.db.fetch_often`: an API
        # page's, a token's look-up) after 5 runs on a connection; Django turns that off for
        # connection poolers, so PARTNERS_PG_PREPARE=0 behind one in transaction mode.
        prepare = envbool("PARTNERS_PG_PREPARE", "1")
        config.setdefault("OPTIONS", {})["prepare_threshold"] = 5 if prepare else None
    return config


DATABASES = {"default": _database(envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: a locked-out login is refused before the password is checked.
AUTHENTICATION_BACKENDS = [
    "partners.throttle.LoginLockout",
    "django.contrib.auth.backends.ModelBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [NINJA_DIR / "static"]
STATIC_ROOT = envpath("DJANGO_STATIC_ROOT", "staticfiles", BASE_DIR)

# Partner tier sync.
PARTNERS_INPUT_DIR = envpath("PARTNERS_INPUT_DIR", "data/partners", BASE_DIR)
PARTNERS_STORE_PATH = envpath("PARTNERS_STORE_PATH", "data/oems.json", BASE_DIR)
VAULT_ROOT = envpath("VAULT_ROOT", "", BASE_DIR) if envstr("VAULT_ROOT", "") else None
PARTNERS_OEM_ALIASES = envjson_dict("PARTNERS_OEM_ALIASES")
# A tier off its program's ladder is a validation error (nothing written), not a warning.
PARTNERS_STRICT_TIERS = envbool("PARTNERS_STRICT_TIERS", "0")
# Every applied write refreshes the vault when there is one; 0 turns that off.
PARTNERS_AUTO_EXPORT = envbool("PARTNERS_AUTO_EXPORT", "1" if VAULT_ROOT else "0")
# How many tier changes each OEM note lists under "Recent changes"; 0 leaves the list out.
PARTNERS_NOTE_RECENT_CHANGES = envint("PARTNERS_NOTE_RECENT_CHANGES", 10, minimum=0)
# A sync may remove at most this many records (--max-remove raises it for one run); unset:
# the larger of a quarter of the records in the database and 10.
_MAX_REMOVE = envint("PARTNERS_MAX_REMOVE", -1, minimum=0)
PARTNERS_MAX_REMOVE = None if _MAX_REMOVE < 0 else _MAX_REMOVE
PARTNERS_LOCK_TIMEOUT = envint("PARTNERS_LOCK_TIMEOUT", 60)

IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "sync"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # One JSON line per API request: method, path, status, latency, request id, user.
    "loggers": {"partners.api": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}

# The HTTP API: the largest request body it reads.
PARTNERS_API_MAX_BODY_BYTES = envint("PARTNERS_API_MAX_BODY_BYTES", 1024 * 1024)

# Failed authentication, counted in the database so every server process sees it. Admin
# logins (django-axes): after PARTNERS_LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is locked out for PARTNERS_LOGIN_COOLOFF seconds (each new
# attempt during the lockout restarts it). API: after PARTNERS_API_FAILURE_LIMIT bad tokens
# from one address within PARTNERS_API_FAILURE_WINDOW seconds, its token requests get 429.
AXES_FAILURE_LIMIT = envint("PARTNERS_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=envint("PARTNERS_LOGIN_COOLOFF", 900, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Not in the admin: its pages bring an action without declared permissions; unlock early
# with `manage.py axes_reset_username USERNAME` (or `axes_reset`).
AXES_ENABLE_ADMIN = False
PARTNERS_API_FAILURE_LIMIT = envint("PARTNERS_API_FAILURE_LIMIT", 20, minimum=1)
PARTNERS_API_FAILURE_WINDOW = envint("PARTNERS_API_FAILURE_WINDOW", 600, minimum=1)

# Admin uploads: the size limit, where files wait between preview and confirm (the database,
# so every server process sees them), and who may export (anyone who may view).
PARTNERS_UPLOAD_MAX_BYTES = envint("PARTNERS_UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
# Uploads waiting for their confirm: a person's oldest is dropped past the count; past the
# total (everyone's), a new upload is refused.
PARTNERS_UPLOADS_PER_USER = envint("PARTNERS_UPLOADS_PER_USER", 5, minimum=1)
PARTNERS_UPLOADS_MAX_TOTAL_BYTES = envint(
    "PARTNERS_UPLOADS_MAX_TOTAL_BYTES", 10 * PARTNERS_UPLOAD_MAX_BYTES, minimum=1
)
IMPORT_EXPORT_TMP_STORAGE_CLASS = "partners.uploads.DatabaseStorage"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
