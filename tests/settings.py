"""Settings of the test suite (pytest.ini) and of the workers it starts: production settings plus
the app holding the job tasks only tests run."""

from left4me.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.support"]  # noqa: F405

# The suite must not depend on how full the disk it runs on is.
WORKSHOP_MIN_FREE_BYTES = 0

# Files come from the stand-in Steam on loopback (tests.support.fakesteam), named explicitly.
if "127.0.0.1" not in WORKSHOP_DOWNLOAD_HOSTS:  # noqa: F405
    WORKSHOP_DOWNLOAD_HOSTS = [*WORKSHOP_DOWNLOAD_HOSTS, "127.0.0.1"]  # noqa: F405

# Notices go to a local receiver (tests.support.receiver), named explicitly.
LEFT4ME_NOTIFY_PRIVATE_HOSTS = ["127.0.0.1"]

# Every /healthz call checks anew (tests change what it checks); the cache has its own tests.
LEFT4ME_HEALTH_CACHE_SECONDS = 0.0

# Hundreds of tests make users: Django's default (PBKDF2, a million rounds, ~0.2 s a password)
# would be most of the suite's time. Production keeps the default (left4me/settings.py).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Open pages ask for news five times as often: the browser tests wait on them.
LEFT4ME_PAGE_POLL_SECONDS = 0.4
