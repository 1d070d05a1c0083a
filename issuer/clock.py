"""Time as the issuer counts it: POSIX seconds (floats), and the same as an aware datetime."""

from datetime import UTC, datetime


def instant(now: float) -> datetime:
    """``now`` (POSIX seconds) as a timezone-aware UTC datetime."""
    return datetime.fromtimestamp(now, UTC)
