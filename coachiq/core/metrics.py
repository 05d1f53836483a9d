"""Prometheus metrics, kept in a registry per server so that several servers can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.exposition import generate_latest


class Metrics:
    """Every metric CoachIQ exports. Parts of the server receive this object and update their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.core_service_up = Gauge("coachiq_core_service_up", "1 while the core service is healthy.",
                                     ["service"], registry=self.registry)
        self.feature_up = Gauge("coachiq_feature_up", "1 while the enabled feature runs and is healthy.",
                                ["feature"], registry=self.registry)
        self.uptime = Gauge("coachiq_uptime_seconds", "Seconds since the server started.", registry=self.registry)
        self.rss = Gauge("coachiq_resident_memory_bytes", "Resident memory of the server process.",
                         registry=self.registry)
        self.db_size = Gauge("coachiq_database_size_bytes", "Size of the database file and its WAL.",
                             registry=self.registry)
        self.active_alerts = Gauge("coachiq_active_alerts", "Active alerts by priority.", ["priority"],
                                   registry=self.registry)
        self.http_latency = Histogram("coachiq_http_request_seconds", "HTTP request latency.", ["route"],
                                      buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
                                      registry=self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
