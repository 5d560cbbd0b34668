"""The status poll of 500 game servers in one round, by the host worker the product runs.

BENCH_SERVERS stand-in servers (tests.support.gameserver.StandInFleet, A2S with the challenge,
answered by one thread) are registered on one host; a real worker (`celery -A left4me worker`,
one slot, the queue of the default host) is sent `servers.poll_host_servers` ROUNDS times, as
the beat does every LEFT4ME_SERVER_POLL_SECONDS. Printed: each round's wall time (message sent
to the last answer stored), the A2S answers each server gave per round, the UPDATE statements
of one round (run once in this process, counted), and the worker's memory (resident set of its
pool process) after the first round and after the last.

    .venv/bin/python bench/servers.py
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import _harness as h

SERVERS = int(os.environ.get("BENCH_SERVERS", "500"))
ROUNDS = int(os.environ.get("BENCH_SERVER_ROUNDS", "10"))
TARGET_SECONDS = 5.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def pool_children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def main() -> None:
    h.setup()
    from celery import current_app
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from overlays.services import overlay_create
    from servers.models import GameServer
    from servers.status import servers_poll
    from servers.tasks import POLL_HOST_TASK
    from tests.support.gameserver import StandInFleet
    from tests.support.workers import running_worker, wait_for

    owner = User.objects.create_user("bench")
    overlay = overlay_create(owner=owner, name="bench")
    with StandInFleet(SERVERS, players=2, bots=1) as fleet:
        GameServer.objects.bulk_create(
            GameServer(
                name=f"server {i}", overlay=overlay, host=overlay.host, address="127.0.0.1",
                port=game.port, rcon_port=game.port,
            )
            for i, game in enumerate(fleet)
        )  # fmt: skip
        servers = list(GameServer.objects.order_by("id"))
        with CaptureQueriesContext(connection) as queries:
            servers_poll(servers=servers)
        updates = sum(q["sql"].startswith("UPDATE") for q in queries.captured_queries)
        for game in fleet:
            game.queries = 0
        times, rss = [], []
        with running_worker(concurrency=1, queues=overlay.host.job_queue) as worker:
            wait_for(lambda: pool_children(worker.pid), timeout=60)
            for _round in range(ROUNDS):
                sent = timezone.now()
                start = time.perf_counter()
                current_app.send_task(POLL_HOST_TASK, args=[overlay.host.pk], queue=overlay.host.job_queue)
                wait_for(
                    lambda sent=sent: not GameServer.objects.filter(polled_at__lt=sent).exists(),
                    timeout=60,
                    interval=0.02,
                )
                times.append(time.perf_counter() - start)
                rss.append(sum(rss_kib(child) for child in pool_children(worker.pid)))
        answers = [game.queries / ROUNDS for game in fleet]
        up = GameServer.objects.filter(state="up", players=2).count()
    print(f"{SERVERS} servers, {ROUNDS} rounds by one worker slot")
    print(f"round wall time: median {statistics.median(times):.2f} s, worst {max(times):.2f} s "
          f"(target {TARGET_SECONDS:.0f} s); first {times[0]:.2f} s")  # fmt: skip
    print(f"A2S answers per server per round: min {min(answers):g}, max {max(answers):g}")
    print(f"UPDATE statements in one round of {SERVERS} servers: {updates}; stored up with 2 humans: {up}")
    print(f"worker pool RSS: {rss[0] / 1024:.1f} MiB after round 1, {rss[-1] / 1024:.1f} MiB after round "
          f"{ROUNDS} (growth {(rss[-1] - rss[0]) / 1024:+.1f} MiB)")  # fmt: skip
    if max(times) > TARGET_SECONDS:
        raise SystemExit(f"a round took {max(times):.2f} s, over {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
