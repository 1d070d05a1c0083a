"""Durations as manifests spell them: ``30s``, ``15m``, ``1h``, ``7d`` or sums like ``1h30m``."""

import re
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, Field

DURATION_PATTERN = r"^([0-9]+[smhd])+$"
_PART = re.compile(r"([0-9]+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

Duration = Annotated[str, Field(pattern=DURATION_PATTERN)]
"""A duration string; validated by pattern so the CRD schema carries the same rule."""


@lru_cache(maxsize=1024)  # read on every token request; few distinct values exist
def duration_seconds(value: str) -> int:
    """Seconds in a duration string that matched :data:`DURATION_PATTERN`."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(value))


MAX_PREVIOUS_SECRET_TTL = "365d"
"""The longest overlap of a secret rotation: it is for a rollout; and an expiry instant
past year 9999 cannot even be written (RFC 3339), which made the namespace's pass fail."""


def bounded_previous_secret_ttl(value: str) -> str:
    """``previousSecretTTL`` (or ``--keep``) if at most :data:`MAX_PREVIOUS_SECRET_TTL`."""
    if duration_seconds(value) > duration_seconds(MAX_PREVIOUS_SECRET_TTL):
        raise ValueError(f"previousSecretTTL is at most {MAX_PREVIOUS_SECRET_TTL}")
    return value


PreviousSecretTTL = Annotated[Duration, AfterValidator(bounded_previous_secret_ttl)]
"""A :data:`Duration` of at most :data:`MAX_PREVIOUS_SECRET_TTL` (same CRD schema)."""
