"""sgportal settings: one module, every value from the environment with a laptop default.

The public contract (DESIGN.md) names the variables; ``sgportal.env`` reads them strictly.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from sgportal.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", True)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-in-production-0123456789"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
if not DEBUG and SECRET_KEY in (_DEV_SECRET, None, ""):
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "axes",  # the one login limiter, for every authenticate() (see "Login limits" below)
    "sgportal",
    "ingestion",
    "approvals",
    "remediation",
]

MIDDLEWARE = [
    # First: X-Forwarded-For / -Proto are believed only from TRUSTED_PROXIES.
    "sgportal.middleware.TrustedProxyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (htmx, the pages' CSS and script, Swagger UI) from gunicorn itself, as
    # collected by `collectstatic` into STATIC_ROOT (issue 13; no CDN, no extra server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "sgportal.middleware.RequestIdMiddleware",
    "sgportal.publish.PublishInBackgroundMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sgportal.context.CurrentUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # SGPORTAL_PASSWORD_LOGIN off: /admin/login/ sends to SSO, password forms are refused.
    "sgportal.auth.PasswordLoginGateMiddleware",
    "sgportal.middleware.AdminLookupGuardMiddleware",
    # Last: turns a lockout found by the axes backend into its 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sgportal.urls"
WSGI_APPLICATION = "sgportal.wsgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from exc
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out (account, client IP) before any password is checked.
    "sgportal.auth.LoginLimitBackend",
    # Django's and allauth's password backends, refusing every password while
    # SGPORTAL_PASSWORD_LOGIN is off (see "Single sign-on" below).
    "sgportal.auth.PasswordModelBackend",
    "sgportal.auth.PasswordAuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
# An address counts for nothing (membership by email, SSO matching, login keys) until it is
# verified: see sgportal.auth.users_with_verified_email. "optional" sends the verification
# mail when an address is added, without locking out admin-created users who have none.
ACCOUNT_EMAIL_VERIFICATION = "optional"
# Portal users are created by admins (or SSO); open self-sign-up would hand out accounts.
ACCOUNT_ADAPTER = "sgportal.auth.NoSignupAccountAdapter"
SOCIALACCOUNT_ADAPTER = "sgportal.auth.SsoSocialAccountAdapter"
SITE_ID = 1

# --- Single sign-on (issue 13): one OpenID Connect provider and one SAML 2.0 IdP ----------
# Configured from the environment as allauth APPS (sgportal.sso_config), never as database
# rows. SSO may create a person (SsoSocialAccountAdapter); tenant access comes only from a
# membership grant or an identity-provider group mapping (sgportal.sso).
INSTALLED_APPS += ["allauth.socialaccount.providers.saml"]
SOCIALACCOUNT_PROVIDERS: dict = {}
SSO_OIDC_ISSUER = env_str("SSO_OIDC_ISSUER") or None
_oidc_client = env_str("SSO_OIDC_CLIENT_ID") or None
_oidc_secret = env_str("SSO_OIDC_CLIENT_SECRET") or None
_oidc_name = env_str("SSO_OIDC_NAME") or "Single sign-on"
_oidc_scopes = env_list("SSO_OIDC_SCOPES", ["openid", "profile", "email"])
if SSO_OIDC_ISSUER:
    from sgportal.sso_config import oidc_app

    if not (_oidc_client and _oidc_secret):
        raise ImproperlyConfigured("SSO_OIDC_ISSUER needs SSO_OIDC_CLIENT_ID and _SECRET.")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            oidc_app(
                issuer=SSO_OIDC_ISSUER,
                client_id=_oidc_client,
                secret=_oidc_secret,
                name=_oidc_name,
                scopes=_oidc_scopes,
            )
        ]
    }
_saml_metadata_url = env_str("SSO_SAML_IDP_METADATA_URL") or None
_saml_metadata_file = env_str("SSO_SAML_IDP_METADATA_FILE") or None
_saml_entity_id = env_str("SSO_SAML_ENTITY_ID") or None
_saml_name = env_str("SSO_SAML_NAME") or "SAML single sign-on"
_saml_emails_verified = env_bool("SSO_SAML_EMAILS_VERIFIED", False)
if _saml_metadata_url or _saml_metadata_file:
    from sgportal.sso_config import saml_app

    SOCIALACCOUNT_PROVIDERS["saml"] = {
        "APPS": [
            saml_app(
                site_url=SITE_URL,
                entity_id=_saml_entity_id,
                metadata_url=_saml_metadata_url,
                metadata_file=_saml_metadata_file,
                name=_saml_name,
                emails_verified=_saml_emails_verified,
            )
        ]
    }
# Sign-up through SSO only (the IdP vouches for the person); never by password.
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # matching by email is ours: verified only
# Local password sign-in (/accounts/login/ and /admin/login/): default off once SSO is
# configured in production; on in the demo and when no SSO is configured.
SGPORTAL_PASSWORD_LOGIN = env_bool(
    "SGPORTAL_PASSWORD_LOGIN",
    env_bool("SGPORTAL_DEMO", False) or DEBUG or not SOCIALACCOUNT_PROVIDERS,
)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("sgportal.auth.sign_in_context")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- I18n, static ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"

# --- Security (production) -------------------------------------------------------------
# Proxies (addresses or CIDRs) whose X-Forwarded-For / X-Forwarded-Proto are believed; from
# anyone else sgportal.middleware.TrustedProxyMiddleware drops those headers, so the
# SECURE_PROXY_SSL_HEADER below only ever sees what a trusted proxy set.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
try:
    TRUSTED_PROXY_NETWORKS = tuple(ipaddress.ip_network(p, strict=False) for p in TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES={TRUSTED_PROXIES!r}: {exc}") from exc
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The demo (scripts/demo.py sets it): seed_demo may set public demo passwords.
SGPORTAL_DEMO = env_bool("SGPORTAL_DEMO", False)
# /metrics answers only "Authorization: Bearer <METRICS_TOKEN>"; unset: 404 to everyone.
METRICS_TOKEN = env_str("METRICS_TOKEN") or None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (Django's own, django-csp's successor): nothing inline without the
# per-request nonce ({{ csp_nonce }} in templates), nothing from other origins.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# --- Mail (verification and password-reset mails) ----------------------------------------
# Printed to the console in DEBUG; SMTP otherwise. A mail that cannot be sent is a message
# to the user (sgportal.auth.NoSignupAccountAdapter.send_mail), never a 500.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "sgportal@localhost")

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://localhost:6379/0")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# The longest task (a Lake poll, a revert with retries) is capped by CELERY_TASK_TIME_LIMIT;
# the broker's visibility timeout must exceed it or Redis redelivers running tasks.
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * CELERY_TASK_TIME_LIMIT,
    # Without these a publish to a Redis that accepts connections but does not answer
    # waits forever (kombu's default); workers' BRPOP replies within 1 s, well inside.
    "socket_timeout": 10,
    "socket_connect_timeout": 5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"


# --- Shared cache (login limits, allauth's rate limits) ------------------------------------
# Redis, shared by every web process: CACHE_URL, by default the broker's Redis server on its
# database 1 (so clearing the cache never touches queued tasks).
def _default_cache_url(broker_url: str) -> str | None:
    parts = urlsplit(broker_url)
    if parts.scheme not in ("redis", "rediss"):
        return None
    return urlunsplit(parts._replace(path="/1"))


CACHE_URL = env_str("CACHE_URL") or _default_cache_url(CELERY_BROKER_URL)
if CACHE_URL:
    if urlsplit(CACHE_URL).scheme not in ("redis", "rediss", "unix"):
        raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} is not a redis:// URL.")
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": "sgportal",
            "OPTIONS": {"socket_timeout": 5, "socket_connect_timeout": 5},
        }
    }

# --- Login limits (django-axes: every authenticate(), /admin/login/ and /accounts/login/) ---
# Failures are counted in the shared cache per (account, client IP); the client IP is
# REMOTE_ADDR as TrustedProxyMiddleware resolved it from TRUSTED_PROXIES.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("SGPORTAL_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(seconds=env_int("SGPORTAL_LOGIN_COOLOFF_S", 900, minimum=1))
# A lockout lasts its cool-off; attempts during it are refused unchecked and uncounted.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "sgportal.auth.login_limit_key"
AXES_CLIENT_IP_CALLABLE = "sgportal.auth.client_ip"
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# axes keeps nothing in the database here (cache handler); its admin pages would be unscoped.
AXES_ENABLE_ADMIN = False
# allauth's own failed-login limit would be a second, per-process limiter on one door only.
ACCOUNT_RATE_LIMITS = {"login_failed": None}

# --- Polling (CloudTrail Lake) ----------------------------------------------------------
SGPORTAL_POLL_INTERVAL_S = env_int("SGPORTAL_POLL_INTERVAL_S", 60, minimum=5)
SGPORTAL_POLL_OVERLAP_S = env_int("SGPORTAL_POLL_OVERLAP_S", 900, minimum=0)

# --- Slack ----------------------------------------------------------------------------
SLACK_SIGNING_SECRET = env_str("SLACK_SIGNING_SECRET")
SLACK_API_URL = env_str("SLACK_API_URL", "https://slack.com/api/")
# Where a Slack interaction's response_url may point: a host (HTTPS) or a full origin
# (scheme://host:port, e.g. the Slack stand-in's in tests and the demo).
SLACK_RESPONSE_URL_HOSTS = env_list("SLACK_RESPONSE_URL_HOSTS", ["hooks.slack.com"])

# --- AWS ------------------------------------------------------------------------------
# AWS_ENDPOINT_URL is boto3's own variable (a moto server in tests and the demo); boto3
# reads it from the environment, so there is no setting for it here.
# The AWS principal sgportal's workers run as, shown in the trust policy tenants paste
# (sgportal.aws_roles.trust_policy); a placeholder until the operator sets it.
SGPORTAL_AWS_PRINCIPAL = env_str(
    "SGPORTAL_AWS_PRINCIPAL", "arn:aws:iam::<sgportal-account-id>:role/<sgportal-worker-role>"
)

# --- Encryption of secrets at rest (Slack bot tokens, webhook secrets) -------------------
# Comma-separated Fernet keys, newest first; defaults to one derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])

# --- Audit chain: HMAC key and signed checkpoints (issue 9, finding 10) -----------------
# The key of the audit chain's HMAC lives outside the database, so whoever owns the database
# cannot recompute the chain after an edit. Derived from SECRET_KEY in the demo (DEBUG) only.
AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY")
if not AUDIT_HMAC_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "AUDIT_HMAC_KEY must be set when DEBUG is off (a random value of 32+ characters, "
            "kept outside the database; AUDIT_HMAC_KEY_FILE works too)."
        )
    AUDIT_HMAC_KEY = "derived-from-secret-key:" + SECRET_KEY
elif len(AUDIT_HMAC_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_HMAC_KEY must be at least 32 characters long.")
# Retired audit keys, oldest first, comma-separated: entries and checkpoints they signed still
# verify, but nothing new is signed with them (README, "Audit log": rotating the key).
AUDIT_HMAC_PREVIOUS_KEYS = env_list("AUDIT_HMAC_PREVIOUS_KEYS", [])
if AUDIT_HMAC_KEY in AUDIT_HMAC_PREVIOUS_KEYS:
    raise ImproperlyConfigured("AUDIT_HMAC_PREVIOUS_KEYS must not hold AUDIT_HMAC_KEY itself.")
if any(len(key) < 32 for key in AUDIT_HMAC_PREVIOUS_KEYS):
    raise ImproperlyConfigured("Each key in AUDIT_HMAC_PREVIOUS_KEYS has 32+ characters.")
# Signed checkpoints of every chain head (manage.py audit_checkpoint, on beat) go to the log
# and to each store set here; verify_audit reads the latest from each store set here.
AUDIT_CHECKPOINT_DIR = env_str("AUDIT_CHECKPOINT_DIR") or None
AUDIT_CHECKPOINT_S3_URI = env_str("AUDIT_CHECKPOINT_S3_URI") or None
if AUDIT_CHECKPOINT_S3_URI and not AUDIT_CHECKPOINT_S3_URI.startswith("s3://"):
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_S3_URI must look like s3://bucket/prefix/.")
AUDIT_CHECKPOINT_INTERVAL_S = env_int("SGPORTAL_AUDIT_CHECKPOINT_INTERVAL_S", 3600, minimum=60)
# Beat re-checks every tenant's roles this often (a trust policy loosened after it was saved).
ROLE_CHECK_INTERVAL_S = env_int("SGPORTAL_ROLE_CHECK_INTERVAL_S", 21600, minimum=300)
# --- end of audit chain block -------------------------------------------------------------

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}
# --- REST API (issue 14): OpenAPI at /api/v1/schema/, Swagger UI served from our own static
# files (drf-spectacular-sidecar), never from a CDN.
INSTALLED_APPS += ["drf_spectacular_sidecar"]
# --- Outbound webhooks (issue 14, approvals/webhooks): its own app label "webhooks". The
# beat sweep retries due deliveries; ALLOW_PRIVATE lifts "https to public addresses only"
# (development and tests: a receiver on loopback).
INSTALLED_APPS += ["approvals.webhooks"]
WEBHOOK_SWEEP_INTERVAL_S = env_int("SGPORTAL_WEBHOOK_SWEEP_INTERVAL_S", 60, minimum=10)
SGPORTAL_WEBHOOKS_ALLOW_PRIVATE = env_bool("SGPORTAL_WEBHOOKS_ALLOW_PRIVATE", False)
# --- end webhooks
SPECTACULAR_SETTINGS = {
    "TITLE": "sgportal API",
    "VERSION": "1.0.0",
    "DESCRIPTION": "Security-group changes, decisions and audit entries of one tenant. "
    "Authorization: Bearer sgp_… (see docs/api.md).",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChangeStatusEnum": "ingestion.models.ChangeStatus",
        "PollStatusEnum": "ingestion.models.PollStatus",
    },
}

# --- Logging --------------------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}

# --- App settings (one section per app; each reads the environment through sgportal.env) ---
# ingestion
# A poll reads up to now minus this lag (events still being written to Lake wait a tick).
SGPORTAL_POLL_SAFETY_LAG_S = env_int("SGPORTAL_POLL_SAFETY_LAG_S", 60, minimum=0)
# How long a poll waits for its Lake query before cancelling it (under the task time limit).
SGPORTAL_LAKE_MAX_WAIT_S = env_int("SGPORTAL_LAKE_MAX_WAIT_S", 600, minimum=10)
if SGPORTAL_LAKE_MAX_WAIT_S >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("SGPORTAL_LAKE_MAX_WAIT_S must be below the task time limit.")
# The organization trail reader (ingestion/trail.py): how often beat starts a read of each
# tenant's SQS queue, how long one read may run (under the task time limit), the long-poll
# wait, how long a received notice stays hidden while its files are read, how long a failed
# one waits before its retry, and after how many receives a failing notice is parked as a
# dead letter.
SGPORTAL_TRAIL_INTERVAL_S = env_int("SGPORTAL_TRAIL_INTERVAL_S", 60, minimum=5)
SGPORTAL_TRAIL_RUN_S = env_int("SGPORTAL_TRAIL_RUN_S", 50, minimum=1)
SGPORTAL_TRAIL_WAIT_S = min(20, env_int("SGPORTAL_TRAIL_WAIT_S", 20, minimum=0))
SGPORTAL_TRAIL_VISIBILITY_S = env_int("SGPORTAL_TRAIL_VISIBILITY_S", 300, minimum=1)
SGPORTAL_TRAIL_RETRY_DELAY_S = env_int("SGPORTAL_TRAIL_RETRY_DELAY_S", 60, minimum=0)
SGPORTAL_TRAIL_MAX_RECEIVES = env_int("SGPORTAL_TRAIL_MAX_RECEIVES", 5, minimum=1)
if SGPORTAL_TRAIL_RUN_S >= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("SGPORTAL_TRAIL_RUN_S must be below the task time limit.")

# approvals
# Slack allows about one message per second per channel; posts are paced in Redis (the
# broker's) per channel, across all workers (see approvals/slack/ratelimit.py).
SLACK_CHANNEL_INTERVAL_S = 1.0

# remediation
# Celery queue the remediation tasks run on (workers: `-Q celery,remediation`).
REMEDIATION_QUEUE = env_str("SGPORTAL_REMEDIATION_QUEUE", "remediation")
# AWS tries per attempt before giving up as revert_failed (throttling, 5xx).
REMEDIATION_MAX_TRIES = env_int("SGPORTAL_REVERT_MAX_TRIES", 5, minimum=1)
# Reverts running at once against one AWS account, across all workers (Redis slots).
REMEDIATION_ACCOUNT_CONCURRENCY = env_int("SGPORTAL_REVERT_CONCURRENCY_PER_ACCOUNT", 2, minimum=1)
# How long a slot held by a killed worker blocks its account.
REMEDIATION_SLOT_TTL_S = env_int("SGPORTAL_REVERT_SLOT_TTL_S", 300, minimum=10)
# Redis visibility timeout override (tests use a few seconds to see redelivery quickly);
# the unacked sweep then runs every min(10, timeout) seconds instead of kombu's ~100 s.
_visibility_timeout = env_int("SGPORTAL_BROKER_VISIBILITY_TIMEOUT_S", 0, minimum=0)
if _visibility_timeout:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "visibility_timeout": _visibility_timeout,
        "unacked_restore_interval": min(10, _visibility_timeout),
        "unacked_restore_throttle": 1,
    }
# Beat: how often to look for Slack notifications that never went out (their task was lost,
# or Slack was broken and has been fixed), and how overdue a queued post must be to count.
NOTIFY_SWEEP_INTERVAL_S = env_int("SGPORTAL_NOTIFY_SWEEP_INTERVAL_S", 120, minimum=10)
NOTIFY_STALE_AFTER_S = env_int("SGPORTAL_NOTIFY_STALE_AFTER_S", 600, minimum=60)
# --- policies (issue 15): how often the deadline sweep runs ---------------------------
POLICY_SWEEP_INTERVAL_S = env_int("SGPORTAL_POLICY_SWEEP_INTERVAL_S", 60, minimum=10)
# Beat: how often to look for reverts whose task was lost, and how old they must be: a
# running attempt longer than CELERY_TASK_TIME_LIMIT (so a running task is never doubled
# needlessly); a denial no worker has claimed (claimed on pick-up), a few minutes.
REMEDIATION_SWEEP_INTERVAL_S = env_int("SGPORTAL_REVERT_SWEEP_INTERVAL_S", 60, minimum=10)
REMEDIATION_STALE_AFTER_S = env_int(
    "SGPORTAL_REVERT_STALE_AFTER_S", CELERY_TASK_TIME_LIMIT + 5 * 60, minimum=60
)
REMEDIATION_UNCLAIMED_AFTER_S = env_int("SGPORTAL_REVERT_UNCLAIMED_AFTER_S", 300, minimum=60)

# --- Beat schedule (issue 11) -----------------------------------------------------------
# django-celery-beat's DatabaseScheduler writes these rows when beat starts (update or
# create by name): schedule, task and expiry follow the environment on every restart, while
# an operator's ``enabled`` flag (set in admin) is never touched. A tick not picked up
# within one interval expires (``expire_seconds`` is django-celery-beat's name for Celery's
# ``expires``).


def beat_entry(task: str, seconds: int) -> dict:
    """A beat entry running ``task`` every ``seconds``, expiring after one interval."""
    return {
        "task": task,
        "schedule": timedelta(seconds=seconds),
        "options": {"expires": seconds, "expire_seconds": seconds},
    }


CELERY_BEAT_SCHEDULE = {
    "poll CloudTrail Lake (all tenants)": beat_entry(
        "ingestion.tasks.poll_all_tenants", SGPORTAL_POLL_INTERVAL_S
    ),
    "read the organization trail's queue (all tenants)": beat_entry(
        "ingestion.tasks.read_all_trails", SGPORTAL_TRAIL_INTERVAL_S
    ),
    "write signed audit checkpoints (all tenants)": beat_entry(
        "sgportal.tasks.audit_checkpoint", AUDIT_CHECKPOINT_INTERVAL_S
    ),
    "re-check that tenant roles require the ExternalId (all tenants)": beat_entry(
        "sgportal.tasks.check_role_trusts", ROLE_CHECK_INTERVAL_S
    ),
    "send lost or skipped Slack notifications (approvals)": beat_entry(
        "approvals.tasks.resume_notifications", NOTIFY_SWEEP_INTERVAL_S
    ),
    "resume lost reverts (remediation)": beat_entry(
        "remediation.tasks.resume_stale_attempts", REMEDIATION_SWEEP_INTERVAL_S
    ),
    "retry due webhook deliveries (webhooks)": beat_entry(
        "approvals.webhooks.tasks.resume_deliveries", WEBHOOK_SWEEP_INTERVAL_S
    ),
    "apply deadline outcomes, expire exceptions, post digests (approvals policy)": beat_entry(
        "approvals.policy.tasks.sweep_deadlines", POLICY_SWEEP_INTERVAL_S
    ),
}
