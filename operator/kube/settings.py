"""Settings of the Gatekey operator, with what each one is for (kopf's settings style)."""

from dataclasses import dataclass, field

from gatekey.operator.render import RenderSettings


@dataclass(frozen=True)
class OperatorOptions:
    """How the operator reconciles; the defaults suit a cluster."""

    render: RenderSettings = field(default_factory=RenderSettings)
    """Key rotation period and pre-publication (docs/contract.md)."""

    debounce: float = 0.05
    """Seconds a namespace pass waits before it starts, so that a burst of changes
    (``kubectl apply -f`` of many manifests) is rendered once, not once per object."""

    failure_backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    """Delays before a pass that failed against the API server (or whose writes failed)
    is tried again: the operator's one retry layer, per namespace."""

    resync_period: float = 300.0
    """Seconds between passes over every known namespace even when nothing changed: signing
    keys rotate and retire by the clock, and drift is repaired."""

    api_concurrency: int = 16
    """Requests the operator's writes may have in flight at once."""

    post_events: bool = True
    """Post core v1 Events about each CR (what was written, readiness changes)."""
