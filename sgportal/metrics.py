"""Prometheus metrics for /metrics.

Workers and web run in separate processes, so in-process counters in a worker never reach
the web's /metrics. The figures operators alert on are therefore read from the database at
scrape time: each app registers a ``DbMetric`` (a function returning labelled samples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

Sample = tuple[dict[str, str], float]


@dataclass(frozen=True)
class DbMetric:
    name: str
    documentation: str
    labels: tuple[str, ...]
    samples: Callable[[], Iterable[Sample]]


_DB_METRICS: list[DbMetric] = []


def register_db_metric(metric: DbMetric) -> None:
    if all(m.name != metric.name for m in _DB_METRICS):
        _DB_METRICS.append(metric)


class _DbCollector:
    def collect(self):
        for metric in _DB_METRICS:
            family = GaugeMetricFamily(
                metric.name, metric.documentation, labels=list(metric.labels)
            )
            for labels, value in metric.samples():
                family.add_metric([labels.get(label, "") for label in metric.labels], value)
            yield family


def counts(queryset, **labels: str) -> Iterable[Sample]:
    """Rows of ``queryset`` counted per group, as samples: ``label=field`` names each label
    and the field it comes from, e.g. ``counts(qs, tenant="tenant__slug")``."""
    from django.db.models import Count

    for row in queryset.values(*labels.values()).annotate(n=Count("id")):
        yield {label: row[field] for label, field in labels.items()}, float(row["n"])


def render() -> bytes:
    registry = CollectorRegistry()
    registry.register(_DbCollector())
    return generate_latest(registry)


def _tenant_samples() -> Iterable[Sample]:
    from sgportal.models import Tenant

    for active in (True, False):
        yield {"active": str(active).lower()}, float(Tenant.objects.filter(active=active).count())


def _audit_samples() -> Iterable[Sample]:
    from sgportal.models import AuditEntry

    return counts(AuditEntry.objects.all(), tenant="tenant__slug")


register_db_metric(
    DbMetric("sgportal_tenants", "Tenants by active flag.", ("active",), _tenant_samples)
)
register_db_metric(
    DbMetric("sgportal_audit_entries", "Audit entries per tenant.", ("tenant",), _audit_samples)
)


def _role_check_samples() -> Iterable[Sample]:
    from sgportal.models import RoleCheck

    return counts(RoleCheck.objects.all(), tenant="tenant__slug", status="status")


register_db_metric(
    DbMetric(
        "sgportal_role_checks",
        "Latest role checks per tenant and status (not_enforced: assumable without the "
        "ExternalId, refused by every assume; unreachable: cannot be assumed).",
        ("tenant", "status"),
        _role_check_samples,
    )
)
