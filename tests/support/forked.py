"""Celery workers forked from a process that has imported Celery, kombu and Django already
(multiprocessing's fork server), instead of a new Python each: a test's worker answers its first
task 1.5 s after it is asked for, against 2.4 s (medians of 5, in turn). Nothing here reads
Django's settings: each worker reads its own, from the environment it is given, after the fork.

`ForkedWorker` answers the subprocess.Popen calls the tests make (pid, poll, wait, returncode),
and a worker leads its own process group, as start_new_session gives a Popen. `run_python` is
`python -c` forked the same way, for the settings tests' probes."""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import subprocess
import sys
import traceback
import types
from collections.abc import Iterator
from multiprocessing import reduction
from multiprocessing.connection import Connection
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
    "django_stubs_ext",
    "django.contrib.admin",
    "django.contrib.auth.checks",
    "django.core.mail",
    "django.urls",
    "django.utils.log",
    "django.views.debug",
    "django_prometheus.middleware",
    "annotated_types",
]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload([__name__, *PRELOAD])


class _CallersStdio:
    """This process's stdout and stderr at the start, handed to the worker (a Popen inherits them)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_detached, (reduction.DupFd(1), reduction.DupFd(2)))  # type: ignore[no-untyped-call]


def _detached(*dups: Any) -> list[int]:
    return [dup.detach() for dup in dups]


def _enter(env: dict[str, str], cwd: str) -> None:
    """The child's own environment and folder, before anything reads Django's settings."""
    from django.conf import settings

    if settings.configured:
        raise RuntimeError(f"{PRELOAD} read Django's settings before the child's environment was set")
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)


@contextlib.contextmanager
def _without_callers_main() -> Iterator[None]:
    """multiprocessing runs the caller's __main__ again in the child, where a target may live:
    these do not, and a benchmark's main would make its folders once more."""
    main, sys.modules["__main__"] = sys.modules["__main__"], types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _celery_main(argv: list[str], env: dict[str, str], cwd: str, stdio: list[int]) -> None:
    os.setsid()
    for target, fd in zip((1, 2), stdio, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    _enter(env, cwd)
    sys.argv = ["celery", *argv]
    from celery.bin.celery import main

    try:
        main()
    finally:
        atexit._run_exitfuncs()  # a forked child leaves with os._exit, past the interpreter's atexit


class ForkedWorker:
    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: str) -> None:
        self._process = _context.Process(target=_celery_main, args=(argv, env, cwd, _CallersStdio()))
        with _without_callers_main():
            self._process.start()
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


def _python_main(code: str, env: dict[str, str], cwd: str, answer: Connection) -> None:
    _enter(env, cwd)
    sys.path.insert(0, cwd)  # as `python -c` started in `cwd`
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            status = 1
    answer.send((status, out.getvalue(), err.getvalue()))


def run_python(code: str, *, env: dict[str, str], cwd: str) -> subprocess.CompletedProcess[str]:
    """What `python -c code` started in `cwd` with `env` as its whole environment prints, forked
    from the fork server: a new interpreter as far as Django goes (its settings not read yet),
    without a new interpreter's start."""
    receive, send = _context.Pipe(duplex=False)
    process = _context.Process(target=_python_main, args=(code, env, cwd, send))
    with _without_callers_main():
        process.start()
    send.close()
    try:
        status, out, err = receive.recv()
    except EOFError:
        status, out, err = 1, "", "the forked Python ended without an answer"
    process.join()
    return subprocess.CompletedProcess(["python", "-c", code], status, out, err)
