"""Test and benchmark support: the fake Steam, worker and Redis helpers, and an app holding the
job tasks only tests run (installed by tests/settings.py, never by left4me/settings.py)."""
