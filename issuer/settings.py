"""Issuer-wide settings: flags and Helm values (DESIGN §2, §5)."""

from dataclasses import dataclass, field

from gatekey.operator.model import TokenManagement

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class IssuerSettings:
    """How the issuer presents itself and what it applies when a policy does not say."""

    issuer_url: str = "http://127.0.0.1:8080"
    """The base of ``iss`` (``<issuer URL>/auth`` or ``/credential``) and of metadata URLs."""
    token_management: TokenManagement = field(default_factory=TokenManagement)
    """The Token Management Settings every policy starts from."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Larger request bodies are refused with 413."""
