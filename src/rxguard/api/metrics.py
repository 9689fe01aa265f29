"""Prometheus metrics, one registry per application.

A registry per app (not the process-global default) keeps tests that build
several apps independent. Labels are bounded: HTTP method, route template and
status code, CDS service id and card indicator — never a patient, user or
token. One process per registry: run several workers behind a load balancer
and let Prometheus scrape each (see ``docs/api.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    cds_cards: Counter
    cds_auth_failures: Counter

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def make_metrics() -> Metrics:
    registry = CollectorRegistry(auto_describe=True)
    return Metrics(
        registry=registry,
        requests=Counter(
            "rxguard_http_requests",
            "HTTP requests answered",
            ("method", "route", "status"),
            registry=registry,
        ),
        latency=Histogram(
            "rxguard_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ("method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        ),
        cds_cards=Counter(
            "rxguard_cds_cards",
            "CDS Hooks cards returned",
            ("service", "indicator"),
            registry=registry,
        ),
        cds_auth_failures=Counter(
            "rxguard_cds_auth_failures",
            "CDS Hooks calls refused for authentication",
            registry=registry,
        ),
    )
