"""Celery workers forked from a process that has imported Celery, kombu and Django already
(multiprocessing's fork server), instead of a new Python each: a test's worker answers its first
task 1.5 s after it is asked for, against 2.4 s (medians of 5, in turn). Nothing here reads
Django's settings: each worker reads its own, from the environment it is given, after the fork.

`ForkedWorker` answers the subprocess.Popen calls the tests make (pid, poll, wait, returncode),
and a worker leads its own process group, as start_new_session gives a Popen."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import types
from multiprocessing import reduction
from typing import Any

# Imported once by the fork server: what a worker imports before it reads the settings.
PRELOAD = [
    "celery.bin.celery",
    "celery.worker",
    "celery.concurrency.prefork",
    "kombu.transport.redis",
    "redis",
    "requests",
    "django.core.management",
    "django.db.models",
    "django.forms",
    "django.template",
    "pydantic",
    "srctools",
]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([__name__, *PRELOAD])


class _CallersStdio:
    """This process's stdout and stderr at the start, handed to the worker (a Popen inherits them)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_detached, (reduction.DupFd(1), reduction.DupFd(2)))  # type: ignore[no-untyped-call]


def _detached(*dups: Any) -> list[int]:
    return [dup.detach() for dup in dups]


def _celery_main(argv: list[str], env: dict[str, str], cwd: str, stdio: list[int]) -> None:
    os.setsid()
    for target, fd in zip((1, 2), stdio, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    from django.conf import settings

    if settings.configured:
        raise RuntimeError(f"{PRELOAD} read Django's settings before the worker's environment was set")
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = ["celery", *argv]
    from celery.bin.celery import main

    try:
        main()
    finally:
        atexit._run_exitfuncs()  # a forked child leaves with os._exit, past the interpreter's atexit


class ForkedWorker:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: str) -> None:
        self._process = _context.Process(target=_celery_main, args=(argv, env, cwd, _CallersStdio()))
        # multiprocessing runs the caller's __main__ again in the child, where a target may live:
        # this one does not, and a benchmark's main would make its folders once more.
        main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
        try:
            self._process.start()
        finally:
            sys.modules["__main__"] = main
        self.pid: int = self._process.pid  # type: ignore[assignment]
        self.args = argv

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode
