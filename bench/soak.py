"""Chaos soak: users act at random through the services while the stand-in Steam fails, workers
and their pool children are SIGKILLed and Redis is SIGKILLed while builds run (and started again
REDIS_DOWN_SECONDS later); then, with the faults off, one final refresh and build of every
overlay, and the invariants are checked. Exits 1 when one broke.

    .venv/bin/python bench/soak.py [DURATION]     (make soak DURATION=30m; default 3m)

Everything runs under a throwaway LEFT4ME_ROOT: SQLite, a private Redis, two real Celery workers
(2 pool children each, with gossip and mingle as the service runs them), celery beat (the reaper every JOB_REAPER_INTERVAL_SECONDS) and the
stand-in Steam on loopback. SOAK_SEED fixes the random choices (the timing still varies).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import _harness as h

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from jobs.models import Job
    from overlays.models import Overlay
    from tests.support.fakesteam import ApiStep, FakeFile, FakeSteam, Step
    from tests.support.forked import ForkedWorker

KiB = 2**10
USERS = 4
ITEMS = 100
COLLECTIONS = 5
FIRST_ID = 8_800_001
FIRST_COLLECTION = 8_900_001
KILL_EVERY = 30.0  # seconds between two SIGKILLs
REDIS_KILLS = 2  # Redis SIGKILLs, spread over the chaos phase, each while a build runs
REDIS_DOWN_SECONDS = 4.0
WORKERS = 2
SETTLE_SECONDS = 240.0  # bound on each wait for the jobs to end, once the faults are off
FILE_FAULT_RATE = 0.35  # share of file GETs that fail while the chaos is on
API_FAULT_RATE = 0.12
TRICKLE_RATE = 24 * KiB  # bytes/s of a trickling file
STALL_SECONDS = 2.5  # longer than WORKSHOP_READ_TIMEOUT below: the client gives up and resumes

# Short settings, so jobs settle within the run (every process reads them from the environment).
SOAK_ENV = {
    "JOB_HEARTBEAT_SECONDS": "1",
    "JOB_STALE_AFTER_SECONDS": "8",
    "JOB_REAPER_INTERVAL_SECONDS": "2",
    "JOB_QUEUED_REDISPATCH_SECONDS": "15",
    "JOB_RETRY_FIRST_MINUTES": "0.05",  # retries after ~3, 9 and 27 s
    "WORKSHOP_RETRY_BACKOFF": "0.2",
    "WORKSHOP_RETRY_BACKOFF_MAX": "1.5",
    "WORKSHOP_READ_TIMEOUT": "1",
    "WORKSHOP_CONNECT_TIMEOUT": "2",
    "WORKSHOP_DOWNLOAD_CONCURRENCY": "2",
    "WORKSHOP_MIN_FREE_BYTES": "0",
    "WORKSHOP_ADD_DEADLINE_SECONDS": "10",
    "LOG_LEVEL": "ERROR",
    # A pool child sent SIGABRT writes every thread's stack to its worker's log: how a job that
    # did not end is shown when the soak fails.
    "PYTHONFAULTHANDLER": "1",
}


def parse_duration(text: str) -> float:
    """ "180", "90s", "3m", "1h" -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None:
        raise SystemExit(f"not a duration: {text!r} (e.g. 180, 90s, 3m, 30m)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


# --- the stand-in Steam, failing at random ------------------------------------------------------


def chaos_steam_class() -> Callable[[random.Random], FakeSteam]:
    from tests.support.fakesteam import ApiStep, FakeSteam, Step

    class ChaosSteam(FakeSteam):
        """FakeSteam whose answers fail at random while `chaos` is set, counting each fault."""

        def __init__(self, rng: random.Random) -> None:
            super().__init__()
            self.rng = rng
            self.chaos = threading.Event()
            self.faults: Counter[str] = Counter()
            self.trickling: set[str] = set()

        def record_get(self, steam_id: str, range_header: str | None) -> tuple[FakeFile | None, Step]:
            fake, step = super().record_get(steam_id, range_header)
            if fake is None or not self.chaos.is_set():
                return fake, step
            with self.lock:
                if steam_id in self.trickling:
                    self.faults["trickle"] += 1
                if self.rng.random() >= FILE_FAULT_RATE:
                    return fake, step
                kind, step = self._file_fault(fake.size)
                self.faults[kind] += 1
            return fake, step

        def _file_fault(self, size: int) -> tuple[str, Step]:
            kind = self.rng.choice(["5xx", "429", "truncate", "stall"])
            if kind == "5xx":
                return kind, Step(status=self.rng.choice([500, 502, 503]))
            if kind == "429":
                return kind, Step(status=429, retry_after="1")
            if kind == "truncate":
                return kind, Step(truncate_after=self.rng.randrange(0, max(1, size)))
            return kind, Step(stall_after=self.rng.randrange(0, max(1, size)), stall_seconds=STALL_SECONDS)

        def record_post(self, method: str, ids: list[str]) -> ApiStep:
            step = super().record_post(method, ids)
            if not self.chaos.is_set():
                return step
            with self.lock:
                if self.rng.random() >= API_FAULT_RATE:
                    return step
                kind = self.rng.choice(["api 5xx", "api 429"])
                self.faults[kind] += 1
            if kind == "api 429":
                return ApiStep(status=429, retry_after="1")
            return ApiStep(status=self.rng.choice([500, 502, 503]))

        def shuffle_trickles(self) -> None:
            """A new fifth of the files trickles at TRICKLE_RATE (none once the chaos is off)."""
            with self.lock:
                chosen = set(self.rng.sample(sorted(self.files), len(self.files) // 5))
                self.trickling = chosen if self.chaos.is_set() else set()
                for steam_id, fake in self.files.items():
                    fake.rate_limit = TRICKLE_RATE if steam_id in self.trickling else None

    return ChaosSteam


# --- the world: Steam's items, the processes, the counts -----------------------------------------


@dataclass
class World:
    rng: random.Random
    steam: Any  # the ChaosSteam
    versions: dict[tuple[str, int], int] = field(default_factory=dict)  # (id, time_updated) -> size
    workers: list[ForkedWorker] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None
    redis: subprocess.Popen[bytes] | None = None
    kills: Counter[str] = field(default_factory=Counter)
    stopped: list[str] = field(default_factory=list)  # workers that exited without being killed
    actions: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)
    overlay_names: int = 0

    @property
    def item_ids(self) -> list[str]:
        return [str(FIRST_ID + n) for n in range(ITEMS)]

    def publish(self, steam_id: str, *, time_updated: int) -> None:
        """(Re)publish an item: every upload has its own size, so its bytes differ too."""
        size = self.rng.randrange(4 * KiB, 256 * KiB)
        while (steam_id, time_updated) in self.versions or size in {
            s for (sid, _), s in self.versions.items() if sid == steam_id
        }:
            size += 1
        self.steam.add_item(steam_id, size=size, time_updated=time_updated)
        self.versions[(steam_id, time_updated)] = size

    def shuffle_collection(self, collection_id: str) -> None:
        self.steam.add_collection(collection_id, self.rng.sample(self.item_ids, self.rng.randint(3, 7)))


def start_processes(world: World) -> None:
    for _ in range(WORKERS):
        world.workers.append(start_worker())
    world.beat = start_beat()


def start_worker() -> ForkedWorker:
    return h.start_quiet_worker(concurrency=2, gossip=True, queues="celery,housekeeping")


def start_beat() -> subprocess.Popen[bytes]:
    from tests.support.workers import worker_env

    log = open(h.ROOT / "beat.log", "ab")  # noqa: SIM115 (the process keeps it)
    cmd = [
        sys.executable, "-m", "celery", "-A", "left4me", "beat", "--loglevel", "INFO",
        "--schedule", str(h.ROOT / "celerybeat-schedule"), "--pidfile", str(h.ROOT / "celerybeat.pid"),
    ]  # fmt: skip
    try:
        return subprocess.Popen(
            cmd, cwd=h.REPO, env=worker_env(), stdout=log, stderr=log, start_new_session=True
        )
    finally:
        log.close()


def kill_something(world: World) -> None:
    """SIGKILL a pool child or a whole worker (then start another in its place), in turn."""
    alive = [w for w in world.workers if w.poll() is None]
    children = [(w, c) for w in alive for c in h.worker_children(w.pid)]
    # A pool child running a job has threads of its own (the heartbeat, the downloads).
    working = [(w, c) for w, c in children if threads(c) > 1]
    if children and (world.kills["workers"] + world.kills["pool children"]) % 2 == 0:
        _, child = world.rng.choice(working or children)
        try:
            os.kill(child, signal.SIGKILL)
            world.kills["pool children"] += 1
        except ProcessLookupError:
            pass
        return
    victims = list({w.pid: w for w, _ in working}.values()) or alive
    victim = world.rng.choice(victims) if victims else None
    if victim is not None:
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        world.workers.remove(victim)
        world.kills["workers"] += 1
    while len(world.workers) < WORKERS:
        world.workers.append(start_worker())


def threads(pid: int) -> int:
    try:
        return h.proc_status_kib(pid, "Threads")  # a plain count, read like the KiB fields
    except (OSError, KeyError):
        return 0


def kill_redis(world: World) -> None:
    """SIGKILL Redis (while a build runs, when one does) and start it again on the same port
    REDIS_DOWN_SECONDS later, with empty queues: the reaper re-sends what was lost."""
    from tests.support.redisproc import start_private_redis

    assert world.redis is not None
    url = os.environ["CELERY_BROKER_URL"]
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    world.kills["Redis kills during a build" if busy() else "Redis kills"] += 1
    world.redis.kill()
    world.redis.wait()
    time.sleep(REDIS_DOWN_SECONDS)
    world.redis, _ = start_private_redis(h.ROOT / "redis", port=port)


def note_stopped_workers(world: World) -> None:
    """Workers that exited on their own (the soak SIGKILLs only the ones it removes from the list)."""
    for worker in [w for w in world.workers if w.poll() is not None]:
        world.stopped.append(f"worker {worker.pid} exited with status {worker.returncode}")
        world.workers.remove(worker)


def stop_processes(world: World) -> None:
    from tests.support.workers import stop_worker

    for worker in world.workers:
        stop_worker(worker)
    if world.beat:
        stop_worker(world.beat)


# --- the users ---------------------------------------------------------------------------------


def live_overlays(user: User) -> list[Overlay]:
    from overlays.models import Overlay

    return list(Overlay.objects.filter(owner=user, deleting=False).order_by("pk"))


def act(world: World, user: User) -> None:
    """One random action of `user` through the services; refusals are counted, not errors."""
    from overlays.services import OverlayError
    from workshop.parsing import WorkshopInputError

    overlays = live_overlays(user)
    actions: list[tuple[str, int, Callable[[], object]]] = [
        ("create overlay", 8 if len(overlays) < 4 else 0, lambda: create_overlay(world, user)),
    ]
    if overlays:
        overlay = world.rng.choice(overlays)
        actions += [
            ("add items", 25, lambda: add_items(world, overlay)),
            ("add collection", 8, lambda: add_collection(world, overlay)),
            ("remove items", 12, lambda: remove_items(world, overlay)),
            ("refresh", 10, lambda: refresh(overlay)),
            ("build", 6, lambda: build(overlay)),
            ("cancel", 10, lambda: cancel(world, overlays)),
            ("delete overlay", 3 if len(overlays) > 1 else 0, lambda: delete(world, overlay)),
        ]
    actions += [
        ("steam: new upload", 10, lambda: new_upload(world)),
        ("steam: collection changed", 2, lambda: world.shuffle_collection(pick_collection(world))),
    ]
    name, _, run = world.rng.choices(actions, weights=[w for _, w, _ in actions])[0]
    try:
        run()
        world.actions[name] += 1
    except (OverlayError, WorkshopInputError) as exc:
        world.refused[f"{name}: {type(exc).__name__}"] += 1
    except Exception:
        world.unexpected.append(f"{name}: {traceback.format_exc()}")


def create_overlay(world: World, user: User) -> None:
    from overlays.services import overlay_create

    world.overlay_names += 1
    overlay_create(owner=user, name=f"soak-{world.overlay_names}")


def add_items(world: World, overlay: Overlay) -> None:
    from overlays.items import items_add

    ids = world.rng.sample(world.item_ids, world.rng.randint(1, 4))
    if world.rng.random() < 0.2:
        ids.append(pick_collection(world))
    items_add(overlay=overlay, text=" ".join(ids), user=overlay.owner)


def pick_collection(world: World) -> str:
    return str(FIRST_COLLECTION + world.rng.randrange(COLLECTIONS))


def add_collection(world: World, overlay: Overlay) -> None:
    from overlays.items import items_add

    items_add(overlay=overlay, text=pick_collection(world), input_mode="collection", user=overlay.owner)


def remove_items(world: World, overlay: Overlay) -> None:
    from overlays.items import items_remove
    from overlays.services import OverlayError

    linked = sorted(overlay.workshop_links.values_list("item__steam_id", flat=True))
    if not linked:
        raise OverlayError("nothing to remove")
    ids = world.rng.sample(linked, min(len(linked), world.rng.randint(1, 2)))
    items_remove(overlay=overlay, steam_ids=ids, user=overlay.owner)


def refresh(overlay: Overlay) -> None:
    from overlays.services import overlay_refresh_enqueue

    overlay_refresh_enqueue(overlay=overlay, user=overlay.owner)


def build(overlay: Overlay) -> None:
    from overlays.services import build_enqueue

    build_enqueue(overlay=overlay, user=overlay.owner, reason="soak")


def cancel(world: World, overlays: list[Overlay]) -> None:
    from jobs.models import Job
    from jobs.services import job_cancel
    from overlays.operations import FILE_OPERATIONS, names
    from overlays.services import OverlayError

    active = list(
        Job.objects.filter(
            subject_id__in=[o.pk for o in overlays],
            operation__in=names(FILE_OPERATIONS),
            state__in=Job.ACTIVE_STATES,
        ).order_by("pk")
    )
    if not active:
        raise OverlayError("nothing to cancel")
    job_cancel(job=world.rng.choice(active))


def delete(world: World, overlay: Overlay) -> None:
    from overlays.services import overlay_delete_enqueue

    overlay_delete_enqueue(overlay=overlay, user=overlay.owner)
    world.deleted.add(overlay.pk)


def new_upload(world: World) -> None:
    steam_id = world.rng.choice(world.item_ids)
    latest = max(t for (sid, t) in world.versions if sid == steam_id)
    world.publish(steam_id, time_updated=latest + world.rng.randint(60, 86_400))


# --- phases ------------------------------------------------------------------------------------


def chaos(world: World, users: list[User], duration: float) -> None:
    start = time.monotonic()
    next_kill, next_trickle = start + KILL_EVERY, start
    redis_kills = [start + duration * n / (REDIS_KILLS + 1) for n in range(1, REDIS_KILLS + 1)]
    world.steam.chaos.set()
    while (now := time.monotonic()) < start + duration:
        if now >= next_trickle:
            world.steam.shuffle_trickles()
            next_trickle = now + 10
        if now >= next_kill and (busy() or now >= next_kill + 10):
            kill_something(world)
            next_kill = now + KILL_EVERY * world.rng.uniform(0.7, 1.3)
        if redis_kills and now >= redis_kills[0] and (busy() or now >= redis_kills[0] + 10):
            kill_redis(world)
            redis_kills.pop(0)
        note_stopped_workers(world)
        act(world, world.rng.choice(users))
        time.sleep(world.rng.uniform(0.3, 1.2))
    world.steam.chaos.clear()
    world.steam.shuffle_trickles()  # none trickles any more


def busy() -> bool:
    """A job is running: a kill now hits work (waited for at most 10 s past the kill's time)."""
    from jobs.models import Job

    return Job.objects.filter(state=Job.State.RUNNING).exists()


def wait_settled(timeout: float) -> bool:
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Job.objects.filter(state__in=Job.ACTIVE_STATES).exists():
            return True
        time.sleep(0.5)
    return False


def final_round() -> list[int]:
    """One refresh and one build of every overlay left; the ids of those jobs."""
    from overlays.models import Overlay
    from overlays.services import OverlayError, build_enqueue, overlay_refresh_enqueue

    ids = []
    for overlay in Overlay.objects.filter(deleting=False).order_by("pk"):
        with contextlib.suppress(OverlayError):  # no items: the build alone
            ids.append(overlay_refresh_enqueue(overlay=overlay, user=None)[0].pk)
        ids.append(build_enqueue(overlay=overlay, user=None, reason="soak: final build").pk)
    return ids


# --- invariants --------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    broken: list[str] = field(default_factory=list)


def check_jobs(final_ids: list[int]) -> list[Check]:
    from jobs.models import Job

    active = Check("every job is in a final state")
    for job in Job.objects.filter(state__in=Job.ACTIVE_STATES).order_by("pk"):
        active.broken.append(f"job {job.pk} {job.operation} is {job.state}: {job_story(job)}")
    final = Check("the final refresh and build of every overlay succeeded (faults off)")
    for job in Job.objects.filter(pk__in=final_ids).exclude(state=Job.State.SUCCEEDED).order_by("pk"):
        final.broken.append(f"job {job.pk} {job.operation} of '{job.subject_name}': {job.state} {job.error}")
    return [active, final]


def job_story(job: Job) -> str:
    """What a stuck job's row and last log lines say, so a failed run can be read from CI's output."""
    fields = ("queue", "requeues", "retries", "retry_at", "dispatched_at", "started_at", "heartbeat_at")
    row = ", ".join(f"{name} {getattr(job, name)}" for name in fields)
    lines = list(job.lines.order_by("-seq").values_list("text", flat=True)[:6])
    return f"{row}; last log lines: " + " | ".join(reversed(lines))


def check_overlays(world: World) -> list[Check]:
    from django.conf import settings

    from overlays.models import Overlay

    links = Check("every overlay's addons/ holds exactly one valid link per item in its list")
    rows = Check("every item row holds the stand-in's current upload")
    for overlay in Overlay.objects.order_by("pk"):
        wanted = set(overlay.workshop_links.values_list("item__steam_id", flat=True))
        links.broken += addons_problems(world, overlay.pk, overlay.addons_path, wanted)
        for sid, updated, size in overlay.workshop_links.values_list(
            "item__steam_id", "item__time_updated", "item__file_size"
        ):
            current = world.steam.details[sid]
            if (updated, size) != (current["time_updated"], int(current["file_size"])):
                rows.broken.append(f"overlay {overlay.pk} item {sid}: row {updated}/{size}, Steam {current}")
    folders = Check("no folder or row is left of a deleted overlay")
    existing = {str(pk) for pk in Overlay.objects.values_list("pk", flat=True)}
    root = Path(settings.OVERLAYS_ROOT)
    for name in sorted(os.listdir(root)) if root.exists() else []:
        if name not in existing:
            folders.broken.append(f"{root / name} has no overlay")
    for pk in sorted(world.deleted & {int(pk) for pk in existing}):
        folders.broken.append(f"overlay {pk} was deleted but its row is still there")
    return [links, rows, folders]


def addons_problems(world: World, pk: int, addons: Path, wanted: set[str]) -> list[str]:
    from django.conf import settings

    cache = Path(settings.WORKSHOP_CACHE_ROOT).resolve()
    found = sorted(os.listdir(addons)) if addons.exists() else []
    problems = [f"overlay {pk}: {name} in addons/ but not in its list" for name in found
                if name.removesuffix(".vpk") not in wanted]  # fmt: skip
    for sid in sorted(wanted):
        link = addons / f"{sid}.vpk"
        if not link.is_symlink():
            problems.append(f"overlay {pk}: no link for item {sid}")
            continue
        target = Path(os.path.realpath(link))
        if target != cache / f"{sid}.vpk" or not target.is_file():
            problems.append(f"overlay {pk}: {link.name} -> {target}, not the cache file")
        elif file_problem(world, sid, target):
            problems.append(f"overlay {pk}: {link.name}: {file_problem(world, sid, target)}")
    return problems


def file_problem(world: World, steam_id: str, path: Path) -> str:
    """Why the file is not an upload the stand-in published (its mtime names which), or ""."""
    from tests.support.fakesteam import FakeFile
    from tests.support.helpers import sha256_of

    stat = path.stat()
    size = world.versions.get((steam_id, int(stat.st_mtime)))
    if size is None:
        return f"mtime {int(stat.st_mtime)} is no upload of item {steam_id}"
    if stat.st_size != size or sha256_of(path) != FakeFile(steam_id=steam_id, size=size).sha256():
        return f"bytes differ from upload {int(stat.st_mtime)} ({stat.st_size} bytes, {size} expected)"
    return ""


def check_cache(world: World) -> tuple[list[Check], Counter[str]]:
    from django.conf import settings

    from overlays.models import OverlayWorkshopItem
    from workshop.cache import lock_path

    root = Path(settings.WORKSHOP_CACHE_ROOT)
    files = Check("every cache file's bytes match the stand-in's upload (sha256)")
    partials = Check("no .part file of a listed item, and none whose lock nobody holds but unlisted ones")
    strays = Check("no stray temporary file in the cache")
    listed = set(OverlayWorkshopItem.objects.values_list("item__steam_id", flat=True))
    seen: Counter[str] = Counter()
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".locks"]
        for name in names:
            path = Path(dirpath) / name
            if match := re.fullmatch(r"(\d+)\.vpk", name):
                steam_id = match.group(1) if dirpath == str(root) else Path(dirpath).name
                seen["cache files" if dirpath == str(root) else "kept uploads"] += 1
                if problem := file_problem(world, steam_id, path):
                    files.broken.append(f"{path.relative_to(root)}: {problem}")
            elif match := re.fullmatch(r"\.(\d+)\.vpk\.part(\.json)?", name):
                seen["partial files"] += 0 if match.group(2) else 1
                if match.group(2):
                    continue
                if match.group(1) in listed:
                    partials.broken.append(f"{name}: item {match.group(1)} is listed, its build succeeded")
                elif not lock_held(lock_path(root, match.group(1))):
                    seen["partials of unlisted items, left by a kill"] += 1
            else:
                strays.broken.append(str(path.relative_to(root)))
    return [files, partials, strays], seen


def lock_held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def repo_listing() -> set[str]:
    """What git sees in the checkout (untracked and ignored files too), bytecode caches aside."""
    out = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=h.REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line for line in out.splitlines() if "__pycache__" not in line and ".pyc" not in line}


def check_outside(watched_tmp: Path, repo_before: set[str]) -> Check:
    outside = Check("nothing was written outside LEFT4ME_ROOT (TMPDIR of every process, the checkout)")
    for name in sorted(os.listdir(watched_tmp)):
        path = watched_tmp / name
        if name.startswith("pymp-") and path.is_dir():
            inside = list(path.iterdir())
            if not inside:  # billiard's (Celery's pool) own folder, whose cleanup a SIGKILL skips
                path.rmdir()
                continue
            # the socket of the fork server the workers start from (tests.support.forked), which
            # multiprocessing removes at this process's exit
            if all(stat.S_ISSOCK(entry.lstat().st_mode) for entry in inside):
                continue
        outside.broken.append(str(path))
    outside.broken += [f"checkout: {line}" for line in sorted(repo_listing() - repo_before)]
    return outside


# --- main --------------------------------------------------------------------------------------


def report(world: World, checks: list[Check], seen: Counter[str], timing: dict[str, float]) -> None:
    from jobs.models import Job

    by_state = Counter(Job.objects.values_list("state", flat=True))
    by_op = Counter(Job.objects.values_list("operation", "state"))
    requeued = Job.objects.filter(requeues__gt=0)
    lost = requeued.filter(error="worker lost").count()
    retried = Job.objects.filter(retries__gt=0)
    failures = Counter(
        re.sub(r"\d+", "N", error.split(":")[0])
        for error in Job.objects.filter(state=Job.State.FAILED).values_list("error", flat=True)
    )
    h.report("machine", h.machine())
    h.report(
        "soak",
        [
            ("chaos phase", f"{timing['chaos']:.0f} s", ""),
            ("settling (faults off, jobs ending)", f"{timing['settle']:.0f} s", ""),
            ("final refresh and build", f"{timing['final']:.0f} s", ""),
            (
                "user actions",
                f"{sum(world.actions.values())} done, {sum(world.refused.values())} refused",
                "",
            ),
            *[(f"  {name}", str(n), "") for name, n in sorted(world.actions.items())],
            *[(f"  refused: {name}", str(n), "") for name, n in sorted(world.refused.items())],
            ("jobs by final state", ", ".join(f"{s} {n}" for s, n in sorted(by_state.items())), ""),
            *[(f"  {op}", f"{state} {n}", "") for (op, state), n in sorted(by_op.items())],
            *[(f"  failed: {why}", str(n), "") for why, n in sorted(failures.items())],
            (
                "jobs re-queued by the reaper",
                f"{requeued.count()} (then {fmt(Counter(requeued.values_list('state', flat=True)))}); "
                f"{lost} failed 'worker lost'",
                "",
            ),
            (
                "jobs that waited to retry",
                f"{retried.count()} (then {fmt(Counter(retried.values_list('state', flat=True)))})",
                "",
            ),
            ("kills", f"workers {world.kills['workers']}, pool children {world.kills['pool children']}", ""),
            (
                "Redis SIGKILLs",
                f"{world.kills['Redis kills during a build']} during a build, "
                f"{world.kills['Redis kills']} with none running; down {REDIS_DOWN_SECONDS:.0f} s each",
                "",
            ),
            ("faults injected", ", ".join(f"{k} {n}" for k, n in sorted(world.steam.faults.items())), ""),
            ("file GETs, API POSTs", f"{sum(world.steam.gets.values())}, {world.steam.api_post_count}", ""),
            *[(name, str(n), "") for name, n in sorted(seen.items())],
        ],
    )
    held = [c for c in checks if not c.broken]
    print(f"\n== invariants: {len(held)} of {len(checks)} held")
    for check in checks:
        print(f"  [{'ok' if not check.broken else 'BROKEN'}] {check.name}")
        for line in check.broken[:20]:
            print(f"      {line}")
        if len(check.broken) > 20:
            print(f"      ... and {len(check.broken) - 20} more")


def fmt(counts: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in sorted(counts.items()))


def setup(seed: int) -> tuple[World, Path]:
    watched_tmp = Path(tempfile.mkdtemp(prefix="left4me-soak-tmp-"))
    os.environ["TMPDIR"] = str(watched_tmp)  # every process started from here writes its temp files there
    tempfile.tempdir = str(watched_tmp)
    os.environ.update(SOAK_ENV)
    rng = random.Random(seed)
    steam = chaos_steam_class()(rng).start()
    os.environ["STEAM_API_BASE_URL"] = steam.base_url
    os.environ["WORKSHOP_DOWNLOAD_HOSTS"] = steam.host
    world = World(rng=rng, steam=steam)
    for steam_id in world.item_ids:
        world.publish(steam_id, time_updated=1_700_000_000 + rng.randrange(1_000_000))
    for n in range(COLLECTIONS):
        world.shuffle_collection(str(FIRST_COLLECTION + n))
    from tests.support.redisproc import start_private_redis

    # The soak restarts its Redis, so it keeps the process (not _harness).
    world.redis, os.environ["CELERY_BROKER_URL"] = start_private_redis(h.ROOT / "redis")
    h.setup(redis=False)
    return world, watched_tmp


def main() -> int:
    duration = parse_duration(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DURATION") or "3m")
    seed = int(os.environ.get("SOAK_SEED") or time.time())
    repo_before = repo_listing()
    world, watched_tmp = setup(seed)
    print(f"chaos soak: {duration:.0f} s, seed {seed}, LEFT4ME_ROOT {h.ROOT}", flush=True)
    from django.contrib.auth.models import User

    users = [User.objects.create_user(f"user{n}", password=f"soak-pw-{n}") for n in range(USERS)]
    timing: dict[str, float] = {}
    try:
        start_processes(world)
        with h.timer() as box:
            chaos(world, users, duration)
        timing["chaos"] = box["seconds"]
        print("chaos over: faults off, waiting for the jobs to end", flush=True)
        with h.timer() as box:
            settled = wait_settled(SETTLE_SECONDS)
        timing["settle"] = box["seconds"]
        with h.timer() as box:
            final_ids = final_round()
            settled = wait_settled(SETTLE_SECONDS) and settled
        timing["final"] = box["seconds"]
        if not settled:
            dump_stacks(world)
        note_stopped_workers(world)
    finally:
        stop_processes(world)
        from tests.support.redisproc import stop_private_redis

        if world.redis is not None:
            stop_private_redis(world.redis)
        world.steam.stop()
    checks = [Check("user actions raised only the refusals the services document", world.unexpected)]
    checks.append(Check("no worker stopped by itself (the Redis kills included)", world.stopped))
    checks += check_jobs(final_ids)
    checks += check_overlays(world)
    cache_checks, seen = check_cache(world)
    checks += cache_checks
    checks.append(check_outside(watched_tmp, repo_before))
    if not settled:
        checks.append(Check("jobs ended within the bound", [f"still active after {SETTLE_SECONDS:.0f} s"]))
    report(world, checks, seen, timing)
    if not os.listdir(watched_tmp):
        os.rmdir(watched_tmp)
    if any(check.broken for check in checks):
        tail_logs()
        print(f"\n== broken (the logs above are kept in {h.ROOT}):")
        for check in checks:
            if check.broken:
                print(f"  {check.name}: {check.broken[0][:600]}")
        h.keep_root()
        return 1
    return 0


def dump_stacks(world: World) -> None:
    """Every pool child's threads into its worker's log (faulthandler, on SIGABRT), then a moment
    for the worker to notice."""
    for worker in world.workers:
        for child in h.worker_children(worker.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGABRT)
    time.sleep(2)


def tail_logs() -> None:
    """Each log's distinct errors (a count each), the thread stacks dump_stacks wrote and its last 15 lines."""
    for log in sorted(h.ROOT.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()
        errors = Counter(  # told apart by their words: the timestamp, pids and numbers go
            re.sub(r"\d+", "N", re.sub(r"^\[[^]]*\] ?", "", line))[:200]
            for line in lines
            if "ERROR" in line or "CRITICAL" in line
        )
        print(f"\n== {log.name}: {len(lines)} lines, {sum(errors.values())} with ERROR or CRITICAL")
        for line, n in errors.most_common(10):
            print(f"  {n:4d} x {line}")
        dumps = [n for n, line in enumerate(lines) if line.startswith("Fatal Python error")]
        for start in dumps:
            print("  -- thread stacks:")
            for line in lines[start : start + 80]:
                print(f"  {line}")
        print("  -- last 15 lines:")
        for line in lines[-15:]:
            print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())
