"""left4me settings: every value comes from the environment, with single-host defaults."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF, UNSAFE_INLINE

from left4me.env import (
    env_bool,
    env_bytes,
    env_float,
    env_int,
    env_list,
    env_networks,
    env_rate,
    env_str,
    persistent_secret,
)
from left4me.sentry import sentry_init

# Generic classes of Django (ModelAdmin[Job], QuerySet[Job]) subscriptable at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

LEFT4ME_ROOT = Path(env_str("LEFT4ME_ROOT", str(BASE_DIR / "var"))).expanduser().resolve()
OVERLAYS_ROOT = LEFT4ME_ROOT / "overlays"
WORKSHOP_CACHE_ROOT = LEFT4ME_ROOT / "workshop_cache"

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "") or persistent_secret(LEFT4ME_ROOT / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

# Behind TLS (deploy/env.example) cookies must not travel in clear text.
SECURE_COOKIES = env_bool("SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_COOKIES else None
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# nginx redirects to https already; this also covers a proxy that does not.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Monitoring asks the app itself over plain http on 127.0.0.1.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and requests only from left4me itself
# and no inline script, so text that slipped past escaping still runs nothing. Item previews
# are Steam's images (https; http as the stand-in Steam serves them). Style attributes (the
# progress bars' widths) are allowed; <style> elements are not.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "https:", "http:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "axes",
    "csp",
    "django_prometheus",
    "left4me",
    "jobs",
    "workshop",
    "overlays",
    "fleet",
    "servers",
    "notices",
    # django-ninja serves the API docs' Swagger UI from its own static files (no CDN).
    "ninja",
    "api",
]

MIDDLEWARE = [
    # First and last: django-prometheus times each request whole (/metrics).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "left4me.middleware.HealthzShortcut",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "left4me.middleware.MethodNotAllowedPage",
    # Last, as django-axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "left4me.urls"
WSGI_APPLICATION = "left4me.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "left4me.views.live_pages",
            ],
            # Sizes and counts read one way on every page (left4me/units.py).
            "builtins": ["left4me.templatetags.units"],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{LEFT4ME_ROOT / 'left4me.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker threads and beat share one file: WAL lets readers run beside a writer,
    # IMMEDIATE takes the write lock up front so two writers queue instead of deadlocking.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(LEFT4ME_ROOT / "test.sqlite3")}

# django-prometheus' wrapper of the same backend counts queries and errors for /metrics.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends.", 1
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Login throttling (django-axes): after LEFT4ME_LOGIN_FAILURES wrong passwords for one username
# from one address, that pair is refused for LEFT4ME_LOGIN_LOCKOUT_MINUTES; after
# LEFT4ME_LOGIN_FAILURES_PER_ADDRESS from one address across usernames, the address is refused
# for every username (left4me.auth.login_failure_limit). Attempts are rows
# in the database (they survive a restart); deleting them in the admin ("Access attempts")
# or `manage.py axes_reset_username NAME` lifts a lock.
LEFT4ME_LOGIN_FAILURES = env_int("LEFT4ME_LOGIN_FAILURES", 5, minimum=1)
LEFT4ME_LOGIN_LOCKOUT_MINUTES = env_int("LEFT4ME_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
LEFT4ME_LOGIN_FAILURES_PER_ADDRESS = env_int("LEFT4ME_LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
AUTHENTICATION_BACKENDS = [
    # First: it refuses a locked-out pair before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "left4me.auth.ModelBackendOneQuery",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = "left4me.auth.login_failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=LEFT4ME_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "left4me.views.locked_out"
# The client's address: X-Forwarded-For (nginx's own entry) only behind the TLS proxy.
AXES_CLIENT_IP_CALLABLE = "left4me.http.client_ip"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/overlays/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(LEFT4ME_ROOT / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # apprise logs the notice URLs it loads, secrets and all: notices.services reads its
    # warnings itself while it sends, and nothing of it reaches the log.
    "loggers": {"apprise": {"handlers": [], "level": "CRITICAL", "propagate": False}},
}

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# The Job row is the record of a run; Celery results would only duplicate it.
CELERY_TASK_IGNORE_RESULT = True
# Only the ping task (left4me.ping) keeps a result, for a minute.
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_RESULT_EXPIRES = 60
# Ack after the work, and re-queue when the worker process dies, so a crash loses no job.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Jobs are long: a worker takes one message at a time so others stay free for other workers.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis re-delivers an unacked message after this long; the reaper settles jobs sooner.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BEAT_SCHEDULER = "left4me.beat:LockedScheduler"
# --- Hosts ------------------------------------------------------------------------------
# The machine this process runs on. A job worker registers it as a Host and serves its queue;
# one machine alone needs no setting (the host "local", on the shared queue "celery").
LEFT4ME_HOST = env_str("LEFT4ME_HOST", "local")
if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", LEFT4ME_HOST):
    raise ValueError(f"LEFT4ME_HOST={LEFT4ME_HOST!r} is not a host name (letters, digits, _ . -)")
# Where new overlays go unless their owner picks another host.
LEFT4ME_DEFAULT_HOST = env_str("LEFT4ME_DEFAULT_HOST", LEFT4ME_HOST)
# Work on an overlay's files runs on the worker of the host that holds them: this host's queue.
LEFT4ME_WORKER_QUEUE = env_str(
    "LEFT4ME_WORKER_QUEUE", "celery" if LEFT4ME_HOST == "local" else f"host-{LEFT4ME_HOST}"
)
# How often an open page asks for news: the overlay page of a running build and the server lines
# this often, a job page twice as often (its log lines).
LEFT4ME_PAGE_POLL_SECONDS = env_float("LEFT4ME_PAGE_POLL_SECONDS", 2.0, above=0.09)
# A host's worker reports free space and cache size this often; a host silent for
# LEFT4ME_HOST_DOWN_AFTER_SECONDS is shown down (its jobs wait in its queue).
LEFT4ME_HOST_REPORT_SECONDS = env_float("LEFT4ME_HOST_REPORT_SECONDS", 30.0)
LEFT4ME_HOST_DOWN_AFTER_SECONDS = env_int("LEFT4ME_HOST_DOWN_AFTER_SECONDS", 180, minimum=1)
# The one running beat holds this Redis lock (renewed every tick); another beat stands by.
LEFT4ME_BEAT_LOCK_SECONDS = env_int("LEFT4ME_BEAT_LOCK_SECONDS", 60, minimum=3)
CELERY_TASK_DEFAULT_QUEUE = "celery"
# The periodic tasks (the reaper, the enqueues of the daily jobs) are short and must run even
# when every slot of the job workers hangs: they go to their own queue, which a worker of one
# slot serves alone (Procfile, left4me-housekeeping.service) and every job worker serves too.
LEFT4ME_HOUSEKEEPING_QUEUE = env_str("LEFT4ME_HOUSEKEEPING_QUEUE", "housekeeping")
if not re.fullmatch(r"[A-Za-z0-9_.@-]+", LEFT4ME_HOUSEKEEPING_QUEUE):
    raise ValueError(
        f"LEFT4ME_HOUSEKEEPING_QUEUE={LEFT4ME_HOUSEKEEPING_QUEUE!r} is not a queue name "
        "(letters, digits, _ . @ -)"
    )
HOUSEKEEPING_TASKS = (
    "jobs.reap_stale_jobs",
    "servers.poll_servers",
    "workshop.enqueue_global_refresh",
    "overlays.enqueue_cache_collection",
    "fleet.count_items",
)
CELERY_TASK_ROUTES = {name: {"queue": LEFT4ME_HOUSEKEEPING_QUEUE} for name in HOUSEKEEPING_TASKS}

# --- Health -----------------------------------------------------------------------------
# Each worker writes a heartbeat into Redis this often (it lives three intervals); /healthz
# reads them. /healthz computes its answer at most once per LEFT4ME_HEALTH_CACHE_SECONDS in
# each web process, however many ask.
LEFT4ME_WORKER_HEARTBEAT_SECONDS = env_float("LEFT4ME_WORKER_HEARTBEAT_SECONDS", 10.0)
LEFT4ME_HEALTH_CACHE_SECONDS = env_float("LEFT4ME_HEALTH_CACHE_SECONDS", 5.0)
if LEFT4ME_WORKER_HEARTBEAT_SECONDS <= 0:
    raise ValueError(f"LEFT4ME_WORKER_HEARTBEAT_SECONDS={LEFT4ME_WORKER_HEARTBEAT_SECONDS} must be above 0")

# --- API --------------------------------------------------------------------------------
# Requests one API token may make: "N/s", "N/min", "N/hour" or "N/day" (django-ninja's rate
# format). Counted in Redis (the "api" cache), so every web process counts against one limit;
# past it the API answers 429 with Retry-After.
LEFT4ME_API_RATE = env_rate("LEFT4ME_API_RATE", "120/min")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CELERY_BROKER_URL,
        "KEY_PREFIX": "left4me:api",
        "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
    },
}

# --- Jobs -------------------------------------------------------------------------------
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 10.0)
JOB_STALE_AFTER_SECONDS = env_int("JOB_STALE_AFTER_SECONDS", 120, minimum=1)
JOB_REAPER_INTERVAL_SECONDS = env_int("JOB_REAPER_INTERVAL_SECONDS", 60, minimum=1)
JOB_MAX_REQUEUES = env_int("JOB_MAX_REQUEUES", 2)
# A queued job whose message no worker took for this long is sent again (duplicates are no-ops).
JOB_QUEUED_REDISPATCH_SECONDS = env_int("JOB_QUEUED_REDISPATCH_SECONDS", 1800, minimum=1)
# Builds and refreshes that failed on something that may pass (Steam down, network) run again
# JOB_RETRIES times, JOB_RETRY_FIRST_MINUTES later, then three times longer each time (5, 15,
# 45 min); the reaper sends a waiting job's message when its time comes.
JOB_RETRIES = env_int("JOB_RETRIES", 3)
JOB_RETRY_FIRST_MINUTES = env_float("JOB_RETRY_FIRST_MINUTES", 5.0, above=0)
JOB_RETRY_FACTOR = 3
JOB_RETRY_JITTER = 0.1  # each wait is up to 10 % shorter or longer, so retries spread out

# --- Steam Workshop ---------------------------------------------------------------------
STEAM_API_BASE_URL = env_str("STEAM_API_BASE_URL", "https://api.steampowered.com").rstrip("/")
STEAM_APP_ID = 550
WORKSHOP_MAX_ENTRIES = env_int("WORKSHOP_MAX_ENTRIES", 500, minimum=1)
# Items one overlay may hold; children of a collection past it are left out (and said so).
WORKSHOP_MAX_ITEMS_PER_OVERLAY = env_int("WORKSHOP_MAX_ITEMS_PER_OVERLAY", 2000, minimum=1)
WORKSHOP_CONNECT_TIMEOUT = env_float("WORKSHOP_CONNECT_TIMEOUT", 10.0)
WORKSHOP_READ_TIMEOUT = env_float("WORKSHOP_READ_TIMEOUT", 60.0)
WORKSHOP_DOWNLOAD_ATTEMPTS = env_int("WORKSHOP_DOWNLOAD_ATTEMPTS", 3, minimum=1)
WORKSHOP_RETRY_BACKOFF = env_float("WORKSHOP_RETRY_BACKOFF", 2.0)
WORKSHOP_RETRY_BACKOFF_MAX = env_float("WORKSHOP_RETRY_BACKOFF_MAX", 120.0)
WORKSHOP_DOWNLOAD_CONCURRENCY = env_int("WORKSHOP_DOWNLOAD_CONCURRENCY", 4, minimum=1)
# Steam's CDN limits each connection, so a big item is fetched as byte ranges in parallel, its
# connections taken from the same WORKSHOP_DOWNLOAD_CONCURRENCY a build has.
WORKSHOP_SEGMENT_MIN_BYTES = env_int("WORKSHOP_SEGMENT_MIN_BYTES", 64 * 2**20, minimum=1)
WORKSHOP_SEGMENTS_PER_ITEM = env_int("WORKSHOP_SEGMENTS_PER_ITEM", 4, minimum=1)
# Steam API calls (100 ids each) a refresh has in flight at once: the wait for Steam, not the
# work, sets a big refresh's pace, so a few at once divide its time.
WORKSHOP_API_CONCURRENCY = env_int("WORKSHOP_API_CONCURRENCY", 4, minimum=1)
# A download attempt that gets under WORKSHOP_MIN_BYTES_PER_SECOND over any WORKSHOP_STALL_SECONDS
# (headers included) is stalled: it ends and the next attempt resumes. Its deadline follows from
# the same rate (workshop.watch.attempt_deadline).
WORKSHOP_MIN_BYTES_PER_SECOND = env_int("WORKSHOP_MIN_BYTES_PER_SECOND", 32 * 2**10, minimum=1)
WORKSHOP_STALL_SECONDS = env_int("WORKSHOP_STALL_SECONDS", 30, minimum=1)
# Hosts a file_url (and each redirect) may point at: Steam's user-content hosts. "*." matches any
# subdomain. Addresses that are not public (loopback, private...) are refused unless the host is
# named here as it is, without a wildcard (tests and the demo name 127.0.0.1).
WORKSHOP_DOWNLOAD_HOSTS = env_list(
    "WORKSHOP_DOWNLOAD_HOSTS", ["*.steamusercontent.com", "steamusercontent-a.akamaihd.net"]
)
# How addons/ holds its items: "symlink" (relative links into the cache, which the server must
# see too) or "hardlink" (hard links to the cache files: the folder is self-contained, so a bind
# or a read-only Docker volume of addons/ alone works; the cache and the overlays must then be on
# one file system, which a system check proves).
WORKSHOP_LINK_MODE = env_str("WORKSHOP_LINK_MODE", "symlink")
if WORKSHOP_LINK_MODE not in ("symlink", "hardlink"):
    raise ValueError(f"WORKSHOP_LINK_MODE={WORKSHOP_LINK_MODE!r} is neither symlink nor hardlink")
# Earlier uploads of an item kept for rollback besides the newest (pinned ones are always kept).
WORKSHOP_KEEP_VERSIONS = env_int("WORKSHOP_KEEP_VERSIONS", 1)
# Seconds a cache file no overlay links to is kept before garbage collection removes it.
WORKSHOP_CACHE_GRACE = env_int("WORKSHOP_CACHE_GRACE", 7 * 24 * 3600)
# A build that would leave less than this free in the cache's file system fails before writing.
WORKSHOP_MIN_FREE_BYTES = env_int("WORKSHOP_MIN_FREE_BYTES", 2 * 2**30)
WORKSHOP_REFRESH_HOUR = env_int("WORKSHOP_REFRESH_HOUR", 4)
WORKSHOP_REFRESH_MINUTE = env_int("WORKSHOP_REFRESH_MINUTE", 0)
# Steam Web API calls: attempts per call, and what one "add" may spend on them.
STEAM_API_ATTEMPTS = env_int("STEAM_API_ATTEMPTS", 4, minimum=1)
WORKSHOP_ADD_MAX_STEAM_CALLS = env_int("WORKSHOP_ADD_MAX_STEAM_CALLS", 50, minimum=1)
WORKSHOP_ADD_DEADLINE_SECONDS = env_float("WORKSHOP_ADD_DEADLINE_SECONDS", 20.0)
WORKSHOP_COLLECTION_MAX_DEPTH = env_int("WORKSHOP_COLLECTION_MAX_DEPTH", 8)
WORKSHOP_COLLECTION_MAX_ITEMS = env_int("WORKSHOP_COLLECTION_MAX_ITEMS", 2000, minimum=1)

# --- Quotas -----------------------------------------------------------------------------
# What one user may hold: overlays, and bytes of the distinct workshop items in all of them
# (Steam's sizes; an item in two overlays counts once, its file is shared). Overridden per user
# in the admin (user quotas); staff have no limits unless set there.
LEFT4ME_QUOTA_OVERLAYS = env_int("LEFT4ME_QUOTA_OVERLAYS", 50)
LEFT4ME_QUOTA_BYTES = env_bytes("LEFT4ME_QUOTA_BYTES", 200 * 2**30)

# --- Metrics ----------------------------------------------------------------------------
# /metrics answers addresses in LEFT4ME_METRICS_ALLOW (addresses or networks, comma-separated;
# as left4me.http.client_ip sees them) and requests bearing LEFT4ME_METRICS_TOKEN; others get 403.
LEFT4ME_METRICS_ALLOW = env_networks("LEFT4ME_METRICS_ALLOW", ["127.0.0.1", "::1"])
LEFT4ME_METRICS_TOKEN = env_str("LEFT4ME_METRICS_TOKEN", "")
# Counting items by state is a scan of every overlay's links: a periodic task does it this often
# (set when the database is migrated; the schedule is then the operator's, in the admin).
LEFT4ME_METRICS_ITEMS_SECONDS = env_int("LEFT4ME_METRICS_ITEMS_SECONDS", 60)

# --- Errors -----------------------------------------------------------------------------
# Errors of the web and worker processes go to Sentry when SENTRY_DSN is set; unset, nothing
# loads. SENTRY_ENVIRONMENT names the deployment; SENTRY_TRACES_SAMPLE_RATE (0 to 1) sends
# that share of requests and tasks as performance traces.
SENTRY_DSN = env_str("SENTRY_DSN", "")
sentry_init(
    SENTRY_DSN,
    environment=env_str("SENTRY_ENVIRONMENT", "production"),
    traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
)

# --- Players' page ---------------------------------------------------------------------
# An overlay's players' page (/p/<token>/) is kept this long in each web process's cache at
# most; a change to the overlay's name, campaigns, items or collections shows at once anyway.
LEFT4ME_PLAYERS_CACHE_SECONDS = env_int("LEFT4ME_PLAYERS_CACHE_SECONDS", 60)

# --- Notices ---------------------------------------------------------------------------
# Notices of a burst of events within this many seconds go out as one message (a digest).
LEFT4ME_NOTIFY_DIGEST_SECONDS = env_int("LEFT4ME_NOTIFY_DIGEST_SECONDS", 60)
# A destination's address must resolve to public addresses, unless it names one of these hosts
# as it is (the rule of WORKSHOP_DOWNLOAD_HOSTS; tests and the demo name 127.0.0.1).
LEFT4ME_NOTIFY_PRIVATE_HOSTS = env_list("LEFT4ME_NOTIFY_PRIVATE_HOSTS", [])

# --- Game servers -----------------------------------------------------------------------
# Every host's worker asks its game servers for A2S info this often; pages read the answers.
LEFT4ME_SERVER_POLL_SECONDS = env_int("LEFT4ME_SERVER_POLL_SECONDS", 30, minimum=1)
# How long one A2S query or RCON connection may take before the server counts as unreachable.
LEFT4ME_SERVER_TIMEOUT_SECONDS = env_float("LEFT4ME_SERVER_TIMEOUT_SECONDS", 2.0, above=0)
# Policy "announce": the players are told this many minutes before the apply (and at 1 minute).
LEFT4ME_APPLY_ANNOUNCE_MINUTES = env_int("LEFT4ME_APPLY_ANNOUNCE_MINUTES", 5, minimum=1)
# Policy "when_empty": the apply checks again this often while players are on, and gives up
# (the job fails) after LEFT4ME_APPLY_WAIT_HOURS.
LEFT4ME_APPLY_CHECK_SECONDS = env_int("LEFT4ME_APPLY_CHECK_SECONDS", 60, minimum=1)
LEFT4ME_APPLY_WAIT_HOURS = env_float("LEFT4ME_APPLY_WAIT_HOURS", 12.0, above=0)
