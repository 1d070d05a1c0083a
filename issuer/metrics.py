"""Prometheus metrics: requests and outcomes, latency, snapshot reloads.

The per-request metrics are plain counters (dictionary entries and a list of bucket
counts) turned into Prometheus families only when ``/metrics`` is scraped: counting a
request costs a few dictionary operations instead of prometheus-client's label look-up,
lock and bucket search per metric (docs/performance.md). The exposition is
prometheus-client's, with the same names, labels, ``_created`` samples and buckets as
its ``Counter`` and ``Histogram``. Rare events (reloads) keep prometheus-client's own
metric objects.
"""

import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.samples import Sample

from gatekey.issuer.audit import AuditEntry
from gatekey.issuer.grants import METRIC_LABELS as KNOWN_GRANTS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BUCKETS_MS = tuple(b * 1000 for b in LATENCY_BUCKETS)
"""The bounds in milliseconds, the unit of the audit line's ``duration_ms``."""
_LE = (*(repr(float(b)) for b in LATENCY_BUCKETS), "+Inf")

ReloadResult = Literal["ok", "unchanged", "error"]
"""The ``result`` label of ``gatekey_snapshot_reloads_total``."""

REQUESTS = "gatekey_requests"
REQUESTS_HELP = "Requests by endpoint, grant and outcome (ok or the OAuth error code)."
LATENCY = "gatekey_request_duration_seconds"
LATENCY_HELP = "Time to answer, by endpoint."
PREVIOUS = "gatekey_previous_secret_uses"
PREVIOUS_HELP = (
    "Requests authenticated with a client's previous secret (after a rotation), "
    "by endpoint: once it stays flat, every replica has switched."
)


class _Latency:
    """One endpoint's histogram: a count per bucket (not cumulative), the sum, the start."""

    __slots__ = ("counts", "created", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.created = time.time()


class _RequestCollector:
    """Renders the plain counters as Prometheus families at scrape time."""

    def __init__(self, metrics: "Metrics") -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._metrics
        requests = CounterMetricFamily(
            REQUESTS, REQUESTS_HELP, labels=("endpoint", "grant", "outcome")
        )
        for labels, count in list(m.counts.items()):
            requests.add_metric(labels, count, m.created[labels])
        yield requests
        latency = HistogramMetricFamily(LATENCY, LATENCY_HELP, labels=("endpoint",))
        for endpoint, hist in list(m.latencies.items()):
            cumulative, buckets = 0, []
            for le, count in zip(_LE, hist.counts, strict=True):
                cumulative += count
                buckets.append((le, float(cumulative)))
            latency.add_metric((endpoint,), buckets, hist.total)
            latency.samples.append(
                Sample(LATENCY + "_created", {"endpoint": endpoint}, hist.created)
            )
        yield latency
        previous = CounterMetricFamily(PREVIOUS, PREVIOUS_HELP, labels=("endpoint",))
        for (endpoint,), count in list(m.previous.items()):
            previous.add_metric((endpoint,), count, m.created[("previous", endpoint)])
        yield previous


class Metrics:
    """One registry per issuer, so that several apps in one process (tests) stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counts: dict[tuple[str, str, str], int] = {}
        """``(endpoint, grant, outcome)`` -> requests."""
        self.latencies: dict[str, _Latency] = {}
        self.previous: dict[tuple[str], int] = {}
        self.created: dict[tuple[str, ...], float] = {}
        """When each label set was first counted (the ``_created`` samples)."""
        self.registry.register(_RequestCollector(self))
        self.reloads = Counter(
            "gatekey_snapshot_reloads_total",
            "Configuration re-reads by result: ok (a new configuration swapped in), "
            "unchanged (nothing changed: the one in force stays), error.",
            ["result"],
            registry=self.registry,
        )
        self.skipped = Gauge(
            "gatekey_snapshot_skipped_objects",
            "Objects left out of the current configuration because they are malformed.",
            registry=self.registry,
        )

    def count(self, endpoint: str, grant: str, outcome: str) -> None:
        """Count one request."""
        labels = (endpoint, grant, outcome)
        counts = self.counts
        if labels in counts:
            counts[labels] += 1
        else:
            self.created[labels] = time.time()
            counts[labels] = 1

    def observe(self, entry: AuditEntry) -> None:
        """Count one audited request. Grant names from clients are bounded to known ones."""
        grant = entry.grant
        if grant not in KNOWN_GRANTS:
            grant = "" if grant is None else "other"
        endpoint = entry.endpoint
        labels = (endpoint, grant, entry.error or "ok")
        counts = self.counts
        if labels in counts:  # :meth:`count`, inline: this runs for every request
            counts[labels] += 1
        else:
            self.count(*labels)
        hist = self.latencies.get(endpoint)
        if hist is None:
            hist = self.latencies[endpoint] = _Latency()
        duration = entry.duration_ms
        # Prometheus buckets are "less than or equal": the first bound >= the value.
        hist.counts[bisect_left(_BUCKETS_MS, duration)] += 1
        hist.total += duration / 1000
        if entry.secret == "previous":
            key = (endpoint,)
            if key not in self.previous:
                self.created[("previous", endpoint)] = time.time()
                self.previous[key] = 0
            self.previous[key] += 1

    def reloaded(self, result: ReloadResult, skipped: int = 0) -> None:
        """Count one re-read of the configuration; ``skipped``: the malformed objects left
        out of a new one (``ok``)."""
        self.reloads.labels(result).inc()
        if result == "ok":
            self.skipped.set(skipped)

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
