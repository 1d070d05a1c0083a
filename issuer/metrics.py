"""Prometheus metrics (prometheus-client): requests and outcomes, latency, snapshot reloads."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gatekey.issuer.audit import AuditEntry
from gatekey.issuer.grants import METRIC_LABELS as KNOWN_GRANTS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """One registry per issuer, so that several apps in one process (tests) stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gatekey_requests_total",
            "Requests by endpoint, grant and outcome (ok or the OAuth error code).",
            ["endpoint", "grant", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gatekey_request_duration_seconds",
            "Time to answer, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reloads = Counter(
            "gatekey_snapshot_reloads_total",
            "Configuration reloads by result.",
            ["result"],
            registry=self.registry,
        )
        self.skipped = Gauge(
            "gatekey_snapshot_skipped_objects",
            "Objects left out of the current configuration because they are malformed.",
            registry=self.registry,
        )
        self.previous_secrets = Counter(
            "gatekey_previous_secret_uses_total",
            "Requests authenticated with a client's previous secret (after a rotation), "
            "by endpoint: once it stays flat, every replica has switched.",
            ["endpoint"],
            registry=self.registry,
        )
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._latencies: dict[str, Any] = {}

    def observe(self, entry: AuditEntry) -> None:
        """Count one audited request. Grant names from clients are bounded to known ones."""
        grant = (
            entry.grant if entry.grant in KNOWN_GRANTS else ("" if entry.grant is None else "other")
        )
        self.requests.labels(entry.endpoint, grant, entry.error or "ok").inc()
        self.latency.labels(entry.endpoint).observe(entry.duration_ms / 1000)
        if entry.secret == "previous":
            self.previous_secrets.labels(entry.endpoint).inc()

    def reloaded(self, ok: bool, skipped: int) -> None:
        self.reloads.labels("ok" if ok else "error").inc()
        if ok:
            self.skipped.set(skipped)

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
