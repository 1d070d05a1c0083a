"""Token settings shared by AuthPolicy (Policy mode) and Credential (ACL mode)."""

from typing import Annotated, Literal

from pydantic import Field, field_validator

from gatekey.operator.model.base import Spec
from gatekey.operator.model.durations import Duration, duration_seconds

GrantType = Literal["client_credentials", "password"]
# max_length bounds the list for the API server's CEL cost estimate (duplicates are dropped).
MAX_GRACE_SECONDS = 300
GrantTypes = Annotated[tuple[GrantType, ...], Field(min_length=1, max_length=8)]


class Refresh(Spec):
    """ "Token Refresh Should Be": refresh tokens, their window and how often a chain may renew."""

    enabled: bool = False
    ttl: Duration = Field(default="24h", description="Refreshed Token Validity Period.")
    max_count: int = Field(default=0, ge=0, description="Refreshes per chain; 0 is no limit.")
    reuse_grace_period: Duration = Field(
        default="0s",
        description=(
            "How long after its rotation a refresh token may be presented again (a retry"
            " after a lost response) without revoking its chain: the retry gets a new pair"
            " that replaces the earlier answer. 0s: any reuse revokes the chain. At most 5m."
        ),
    )

    @field_validator("reuse_grace_period")
    @classmethod
    def _short_grace(cls, value: str) -> str:
        # A retry comes within seconds; a long window only delays reuse detection.
        if duration_seconds(value) > MAX_GRACE_SECONDS:
            raise ValueError("reuseGracePeriod is at most 5m")
        return value


class TokenSettings(Spec):
    """Validity of the tokens one client gets."""

    ttl: Duration = Field(default="1h", description="Token Validity Period.")
    immortal: bool = Field(default=False, description="Token Should Be Immortal: no exp.")
    refresh: Refresh = Refresh()
    revoke_previous: bool = Field(
        default=False, description="OAuth2: a new token revokes the principal's earlier ones."
    )

    @property
    def ttl_seconds(self) -> int:
        """Access-token validity in seconds."""
        return duration_seconds(self.ttl)

    @property
    def refreshable(self) -> bool:
        """Refresh tokens are issued: refresh enabled and the token not immortal."""
        return self.refresh.enabled and not self.immortal


def unique_grants(grants: tuple[GrantType, ...]) -> tuple[GrantType, ...]:
    """``grants`` with duplicates removed, order kept."""
    return tuple(dict.fromkeys(grants))
