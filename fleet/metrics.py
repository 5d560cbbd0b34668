"""left4me's own numbers for Prometheus (/metrics), read from the rows at each scrape: four
queries whatever the size of the fleet (bench/metrics.py), each a GROUP BY or a short list. The
items by state, a scan of every link, are counted off the scrape by a periodic task
(items_count) and read from the hosts' rows.

What workers on other hosts count (bytes downloaded, Steam API calls, job run durations) reaches
every web process through the database (left4me.counters); the rest is what the rows say now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.operations import REFRESH_WORKSHOP_ITEMS
from jobs.models import Job
from left4me import counters
from left4me.models import Counter, Host
from overlays.models import OverlayWorkshopItem
from overlays.states import recorded_case

# left4me.counters name -> (metric, help)
COUNTERS = {
    counters.DOWNLOADED_BYTES: ("left4me_downloaded_bytes", "Bytes of workshop files downloaded"),
    counters.STEAM_API_CALLS: ("left4me_steam_api_calls", "Steam Web API calls (each with its retries)"),
    counters.STEAM_API_FAILURES: ("left4me_steam_api_failures", "Steam Web API calls that failed"),
    counters.STEAM_API_RETRIES: ("left4me_steam_api_retries", "Steam Web API attempts after a failed one"),
}


class FleetCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        hosts = list(Host.objects.all())
        yield from _items(hosts)
        yield from _hosts(hosts)
        yield _jobs()
        stored = list(Counter.objects.values_list("host", "name", "value"))
        yield from _counters(stored)
        yield _job_durations(stored)
        yield _daily_refresh()


def items_count() -> None:
    """Count every host's links by the state their rows record and store the counts on the
    hosts: the periodic task fleet.count_items (every LEFT4ME_METRICS_ITEMS_SECONDS) does it, off
    the scrape, as it is a scan of every link (a quarter of a second at 100,000)."""
    rows = (
        OverlayWorkshopItem.objects.filter(overlay__deleting=False)
        .annotate(state=recorded_case())
        .values_list("overlay__host_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    )
    counted: dict[int, dict[str, int]] = defaultdict(dict)
    for host_id, state, n in rows:
        counted[host_id][state] = n
    now = timezone.now()
    with transaction.atomic():
        for host in Host.objects.only("pk"):
            Host.objects.filter(pk=host.pk).update(
                items_by_state=counted.get(host.pk, {}), items_counted_at=now
            )


def _items(hosts: list[Host]) -> Iterator[Metric]:
    metric = GaugeMetricFamily(
        "left4me_items", "Overlay items by the state their rows record, per host", labels=["host", "state"]
    )
    counted_at = GaugeMetricFamily(
        "left4me_items_counted_timestamp_seconds", "When the host's items were last counted", labels=["host"]
    )
    for host in hosts:
        for state, n in sorted(host.items_by_state.items()):
            metric.add_metric([host.name, state], n)
        if host.items_counted_at is not None:
            counted_at.add_metric([host.name], host.items_counted_at.timestamp())
    yield from (metric, counted_at)


def _hosts(hosts: list[Host]) -> Iterator[Metric]:
    labels = ["host"]
    cache = GaugeMetricFamily(
        "left4me_host_cache_bytes", "What the host's workshop cache holds", labels=labels
    )
    free = GaugeMetricFamily(
        "left4me_host_free_bytes", "Free bytes in the cache's file system", labels=labels
    )
    size = GaugeMetricFamily("left4me_host_disk_bytes", "Size of the cache's file system", labels=labels)
    seen = GaugeMetricFamily(
        "left4me_host_last_report_timestamp_seconds", "When the host's worker last reported", labels=labels
    )
    up = GaugeMetricFamily(
        "left4me_host_up",
        "1 while the host's worker reports (LEFT4ME_HOST_DOWN_AFTER_SECONDS)",
        labels=labels,
    )
    for host in hosts:
        for metric, value in ((cache, host.cache_bytes), (free, host.free_bytes), (size, host.total_bytes)):
            if value is not None:
                metric.add_metric([host.name], value)
        if host.last_seen_at is not None:
            seen.add_metric([host.name], host.last_seen_at.timestamp())
        up.add_metric([host.name], 0 if host.is_down else 1)
    yield from (cache, free, size, seen, up)


def _jobs() -> Metric:
    metric = GaugeMetricFamily("left4me_jobs", "Jobs by operation and state", labels=["operation", "state"])
    rows = Job.objects.values_list("operation", "state").annotate(n=Count("id")).order_by()
    for operation, state, n in rows:
        metric.add_metric([operation, state], n)
    return metric


def _counters(stored: list[tuple[str, str, int]]) -> Iterator[Metric]:
    metrics = {name: CounterMetricFamily(*about, labels=["host"]) for name, about in COUNTERS.items()}
    for host, name, value in stored:
        if name in metrics:
            metrics[name].add_metric([host], value)
    yield from metrics.values()


def _job_durations(stored: list[tuple[str, str, int]]) -> Metric:
    """How long job runs took, per operation, every host's counts together (left4me.counters)."""
    per_operation: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _host, name, value in stored:
        counter, _, operation = name.partition(":")
        if operation:
            per_operation[operation][counter] += value
    metric = HistogramMetricFamily(
        "left4me_job_duration_seconds", "How long job runs took, from start to end", labels=["operation"]
    )
    for operation, values in sorted(per_operation.items()):
        under = [
            (str(float(bound)), values[counters.job_duration_le(bound)])
            for bound in counters.DURATION_BUCKETS
        ]
        runs = values[counters.JOB_RUNS]
        metric.add_metric([operation], [*under, ("+Inf", runs)], values[counters.JOB_MILLISECONDS] / 1000)
    return metric


def _daily_refresh() -> Metric:
    metric = GaugeMetricFamily(
        "left4me_daily_refresh_last_success_timestamp_seconds",
        "When the last refresh of every item in use succeeded (0: never)",
    )
    last = Job.objects.filter(
        operation=REFRESH_WORKSHOP_ITEMS.name, state=Job.State.SUCCEEDED, finished_at__isnull=False
    ).aggregate(last=Max("finished_at"))["last"]
    metric.add_metric([], last.timestamp() if last else 0.0)
    return metric
