"""jobq settings, driven by environment variables.

Two ways to run, and one rule between them:

- The local run (`JOBQ_LOCAL=1`, which `make run`, `make dev` and the tests
  set): an embedded SQLite database, a secret key generated once under var/,
  the loopback host names, /metrics open to this machine.
- Anything else is production: SECRET_KEY and ALLOWED_HOSTS must be set,
  or start-up stops with a message saying what to set (DEBUG on or off).

docs/operations.md lists every setting by topology.
"""

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JOBQ_VAR_DIR", BASE_DIR / "var"))


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false).")


def env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer.") from None


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_rate(name, default=None):
    """ "600/60" -> (600, 60): at most 600 events every 60 s; "off" or unset
    without a default: no limit (None)."""
    value = os.environ.get(name, "").strip() or default
    if not value or value.lower() == "off":
        return None
    try:
        events, seconds = (int(part) for part in value.split("/"))
        if events <= 0 or seconds <= 0:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} must look like 600/60 (events/seconds), or off."
        ) from None
    return events, seconds


def local_secret_key():
    """A key generated once for this checkout, kept out of git under var/.

    Several server processes may start at once: the key is written to a
    private temporary file (mode 600 from its creation), then linked into
    place, which fails if another process got there first. Everyone then
    reads the one key that won, never a half-written file."""
    path = VAR_DIR / "secret-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        temporary = VAR_DIR / f".secret-key.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    return path.read_text().strip()


def production_requires(values):
    """Stop start-up when production lacks a setting, saying what to set."""
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ImproperlyConfigured(
            f"jobq is starting as a production server (JOBQ_LOCAL is not set) and "
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set. Set SECRET_KEY to a "
            "long random string (python -c 'import secrets; print(secrets.token_urlsafe(50))') and "
            "ALLOWED_HOSTS to the host names jobq is reached by (e.g. jobq.example.com). For a run "
            "on this machine only, use `make run` (or set JOBQ_LOCAL=1). See docs/operations.md."
        )


# The local run: `make run`, `make dev` and the tests. Anything else is production.
LOCAL_RUN = env_bool("JOBQ_LOCAL", False)
DEBUG = env_bool("DEBUG", False)
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
if LOCAL_RUN:
    SECRET_KEY = os.environ.get("SECRET_KEY") or local_secret_key()
    # The loopback names, and the address `make run` listens on when it is a specific one.
    listening = os.environ.get("HOST", "").strip()
    host_name = f"[{listening.strip('[]')}]" if ":" in listening else listening
    local_hosts = ["127.0.0.1", "localhost", "[::1]"]
    if listening not in WILDCARD_HOSTS and host_name not in local_hosts:
        local_hosts.append(host_name)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", local_hosts)
else:
    SECRET_KEY = os.environ.get("SECRET_KEY", "").strip()
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    production_requires({"SECRET_KEY": SECRET_KEY, "ALLOWED_HOSTS": ALLOWED_HOSTS})
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# HTML for pages, the JobQ error shape under the API's paths.
CSRF_FAILURE_VIEW = "jobs.jobq.errors.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_filters",
    "django_htmx",
    # The database-backed queue of django.tasks (alert deliveries; see below).
    "django_tasks_db",
    "jobs",
]

MIDDLEWARE = [
    # One log line and the request metrics for every request, streams timed to their end.
    "jobs.ops.middleware.RequestLogMiddleware",
    # /healthz and /metrics, answered before host checks and HTTPS redirects:
    # load balancers and Prometheus ask by address, over plain HTTP.
    "jobs.ops.middleware.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "jobs.middleware.DatabaseUnavailableMiddleware",
    # Reads of GET requests from the replica, when DATABASE_REPLICA_URL is set (else it steps aside).
    "jobs.ops.replicas.ReadRoutingMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Pages show times in the browser's zone (the `tz` cookie), UTC without it.
    "jobs.middleware.TimezoneMiddleware",
]

ROOT_URLCONF = "jobqsite.urls"
WSGI_APPLICATION = "jobqsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# Django's PostgreSQL backend, with a health check that costs no round trip (its docstring).
POSTGRESQL_ENGINE = "jobqsite.postgresql"


def database_from_env():
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    try:
        config = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # Writers take the lock when the transaction begins, so two
            # concurrent writes queue instead of failing on lock upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif engine == "django.db.backends.postgresql":
        # Django's backend with a health check that asks the kernel, not the server.
        config["ENGINE"] = POSTGRESQL_ENGINE
        # Persistent connections with health checks: measured 6-9x faster than
        # reconnecting per request, and no 500 after a PostgreSQL restart.
        config["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 300)
        config["CONN_HEALTH_CHECKS"] = True
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
        without_jit(config)
        prepared_fixed_sql(config)
    else:
        raise ImproperlyConfigured(f"DATABASE_URL must be sqlite:// or postgres://, not {engine}.")
    return config


def without_jit(config):
    """PostgreSQL's JIT off for jobq's connections. jobq's queries walk
    indexes and read counters; PostgreSQL compiles any query whose estimated
    cost is high (a long stream, a count of many rows), and compiling took
    longer than running them: 80 ms before a 1M-line stream's first row,
    460 ms of a 770 ms count (docs/performance.md). A `-c jit=on` in the
    URL's `options` comes later and wins."""
    options = config.setdefault("OPTIONS", {})
    options["options"] = f"-c jit=off {options.get('options', '')}".strip()


def prepared_fixed_sql(config):
    """Lets the fixed SQL of every API request (jobs/fixedsql.py) run as
    statements prepared once per connection; Django's own cursors bind
    values on the client and never prepare, whatever this threshold.
    PREPARED_STATEMENTS=0 turns it off, for a connection pooler that cannot
    keep prepared statements (pgbouncer in transaction mode before 1.21)."""
    if env_bool("PREPARED_STATEMENTS", True):
        # A count psycopg never reaches: only statements asked for are prepared.
        config["OPTIONS"].setdefault("prepare_threshold", 2**31 - 1)


def replica_from_env(primary):
    """DATABASE_REPLICA_URL: a PostgreSQL streaming replica of the primary."""
    url = os.environ.get("DATABASE_REPLICA_URL", "").strip()
    if not url:
        return None
    if primary["ENGINE"] != POSTGRESQL_ENGINE:
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs a PostgreSQL primary in DATABASE_URL.")
    try:
        config = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a database URL: {exc}") from None
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a postgres:// URL.")
    config["ENGINE"] = POSTGRESQL_ENGINE
    config["CONN_MAX_AGE"] = primary["CONN_MAX_AGE"]
    config["CONN_HEALTH_CHECKS"] = True
    config.setdefault("OPTIONS", {})["connect_timeout"] = 5
    without_jit(config)
    # Tests see the primary through it, as a replica would.
    config["TEST"] = {"MIRROR": "default"}
    return config


DATABASES = {"default": database_from_env()}
_replica = replica_from_env(DATABASES["default"])
if _replica is not None:
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["jobs.ops.replicas.PrimaryReplicaRouter"]
# A session reads from the primary for this long after its own write.
DATABASE_REPLICA_PIN_SECONDS = env_int("DATABASE_REPLICA_PIN_SECONDS", 10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def cache_from_env():
    """Local memory for a single process; Redis (REDIS_URL or CACHE_URL) as soon
    as several processes or servers must share rate limits and login throttles."""
    urls = {name: os.environ.get(name, "").strip() for name in ("REDIS_URL", "CACHE_URL")}
    given = {url for url in urls.values() if url}
    if len(given) > 1:
        raise ImproperlyConfigured("REDIS_URL and CACHE_URL are both set, to different values: set one.")
    if not given:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "jobq"}
    url = given.pop()
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(
            f"{'REDIS_URL' if urls['REDIS_URL'] else 'CACHE_URL'} must be a redis://, rediss:// or unix:// URL."
        )
    return {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": url,
        # Several jobq installations (or test runs) can share one Redis.
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "jobq"),
        # A Redis that is down must not hold requests up: the limits then let requests through.
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }


CACHES = {"default": cache_from_env()}
SHARED_CACHE = CACHES["default"]["BACKEND"].endswith("RedisCache")
if "replica" in DATABASES and not SHARED_CACHE:
    raise ImproperlyConfigured(
        "DATABASE_REPLICA_URL needs REDIS_URL: an API key's own writes pin its reads to the "
        "primary through the shared cache."
    )

AUTHENTICATION_BACKENDS = ["jobs.ops.login_throttle.ThrottledModelBackend"]
# Failed logins allowed per user name, and per client address, in a window.
JOBQ_LOGIN_LIMIT_PER_USER = env_rate("JOBQ_LOGIN_LIMIT_PER_USER", "10/900")
JOBQ_LOGIN_LIMIT_PER_ADDRESS = env_rate("JOBQ_LOGIN_LIMIT_PER_ADDRESS", "50/900")
# How many proxies in front add X-Forwarded-For: the client is the address they saw.
JOBQ_TRUSTED_PROXIES = env_int("JOBQ_TRUSTED_PROXIES", 0)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where collectstatic writes (make run runs it) and WhiteNoise serves from.
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# The servers serve what collectstatic wrote (make run runs it); the
# development server (DEBUG) serves straight from the finders.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

SESSION_COOKIE_HTTPONLY = True
# Messages can carry a new API key shown once: keep them server-side, never in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
X_FRAME_OPTIONS = "DENY"

# HTTPS, usually terminated by a proxy in front (docs/operations.md).
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)


def proxy_ssl_header_from_env():
    """SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto: the proxy says the request came over HTTPS.
    Set it only behind a proxy that always sets (or strips) that header."""
    value = os.environ.get("SECURE_PROXY_SSL_HEADER", "").strip()
    if not value:
        return None
    meta = value.upper().replace("-", "_")
    meta = meta if meta.startswith("HTTP_") else "HTTP_" + meta
    if not meta[5:].replace("_", "").isalnum():
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={value!r} is not a header name.")
    return (meta, "https")


SECURE_PROXY_SSL_HEADER = proxy_ssl_header_from_env()

# JobQ API limits.
JOBQ_RATE_LIMIT = env_rate("JOBQ_RATE_LIMIT")
# The API reads its write bodies itself, with its own limits; the pages keep
# Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), so a form post cannot make
# the server parse 50 MB.
JOBQ_MAX_BODY_BYTES = env_int("JOBQ_MAX_BODY_BYTES", 50 * 1024 * 1024)
# JSON lines per write request (push, update; keys per cancel), each parsed before anything is written.
JOBQ_MAX_BODY_LINES = env_int("JOBQ_MAX_BODY_LINES", 10_000)

# Seconds a streamed answer (a long /list, an export) may run: a million-line
# stream takes well under a minute, a client stalled for this long is cut off.
JOBQ_STREAM_TIME_LIMIT = env_int("JOBQ_STREAM_TIME_LIMIT", 3600)
if JOBQ_STREAM_TIME_LIMIT <= 0:
    raise ImproperlyConfigured(
        f"JOBQ_STREAM_TIME_LIMIT={JOBQ_STREAM_TIME_LIMIT} must be a positive number of seconds."
    )
# The most jobs a summary lists per queue (`count`); /list streams any number.
JOBQ_SUMMARY_MAX_COUNT = env_int("JOBQ_SUMMARY_MAX_COUNT", 1000)


def networks_from_env(name, default):
    """Addresses and networks (10.0.0.0/8, ::1), comma-separated."""
    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network.") from None
    return networks


# /metrics answers a bearer token, or the addresses listed; nobody otherwise.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters.")
METRICS_ALLOWED_ADDRESSES = networks_from_env(
    "METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"] if LOCAL_RUN else []
)

LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} must be DEBUG, INFO, WARNING, ERROR or CRITICAL.")
# One line per request on the `jobq.requests` logger; ACCESS_LOG=0 silences it.
ACCESS_LOG = env_bool("ACCESS_LOG", True)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # Every line goes through the redaction of API keys and credentials.
        "redacted": {
            "()": "jobs.ops.redaction.RedactingFormatter",
            "format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "redacted"}},
    "loggers": {
        # Its 4xx warnings repeat the request lines; errors and 5xx stay.
        "django.request": {"level": "ERROR"},
        "jobq.requests": {
            "handlers": ["console"],
            "level": "INFO" if ACCESS_LOG else "WARNING",
            "propagate": False,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Spider health alerts (docs/health.md) ------------------------------------
# Deliveries run in the background through django.tasks. The default queue is
# the database itself (django-tasks-db), so `make run` needs nothing else;
# `manage.py alert_worker` runs them and evaluates the time-based rules.
# JOBQ_TASKS_REDIS=redis://host:6379/5 puts the queue in Redis (RQ) instead.
JOBQ_TASKS_REDIS = os.environ.get("JOBQ_TASKS_REDIS", "")
if JOBQ_TASKS_REDIS:
    INSTALLED_APPS += ["django_rq"]
    RQ_QUEUES = {"default": {"URL": JOBQ_TASKS_REDIS}}
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def delays_from_env(name, default):
    """ "10,60,300" -> [10.0, 60.0, 300.0]: seconds before each retry."""
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        delays = [float(part) for part in value.split(",")]
        if not delays or any(delay < 0 for delay in delays):
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}={value!r} must be seconds separated by commas, e.g. 10,60,300."
        ) from None
    return delays


# Seconds to wait before each retry of a failed delivery; after the last, it has failed.
JOBQ_ALERT_RETRY_DELAYS = delays_from_env("JOBQ_ALERT_RETRY_DELAYS", [10, 60, 300, 1800, 7200, 21600])
# Seconds a webhook receiver or the mail server has to answer.
JOBQ_ALERT_TIMEOUT = env_int("JOBQ_ALERT_TIMEOUT", 10)
# Seconds between two evaluations of the time-based rules (silent spiders, long jobs).
JOBQ_HEALTH_TICK = env_int("JOBQ_HEALTH_TICK", 60)
# The address links in alerts start with, e.g. https://jobq.example.com.
JOBQ_BASE_URL = os.environ.get("JOBQ_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Alert e-mails go through Django's default mailer: an SMTP server.
MAILERS = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": os.environ.get("EMAIL_HOST", "localhost"),
            "port": env_int("EMAIL_PORT", 25),
            "username": os.environ.get("EMAIL_HOST_USER", ""),
            "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
            "use_tls": env_bool("EMAIL_USE_TLS", False),
            "use_ssl": env_bool("EMAIL_USE_SSL", False),
            "timeout": JOBQ_ALERT_TIMEOUT,
        },
    }
}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "jobq@localhost")
