"""Issuer-wide settings: flags and Helm values (docs/reference.md, "The command")."""

from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address

from gatekey.operator.model import TokenManagement

MAX_BODY_BYTES = 64 * 1024
HEADER_TIMEOUT = 15.0
BODY_TIMEOUT = 15.0
MAX_CONNECTIONS = 1024


@dataclass(frozen=True)
class IssuerSettings:
    """How the issuer presents itself and what it applies when a policy does not say."""

    issuer_url: str = "http://127.0.0.1:8080"
    """The base of ``iss`` (``<issuer URL>/auth`` or ``/credential``) and of metadata URLs."""
    token_management: TokenManagement = field(default_factory=TokenManagement)
    """The Token Management Settings every policy starts from."""
    max_body_bytes: int = MAX_BODY_BYTES
    """Larger request bodies are refused with 413."""
    header_timeout: float = HEADER_TIMEOUT
    """Seconds a connection has to deliver a complete request head, counted from its
    opening or its previous response; also how long an idle keep-alive connection
    stays open. A slow-header (slowloris) connection is closed after it."""
    body_timeout: float = BODY_TIMEOUT
    """Seconds a request has to deliver its body once its head arrived; 408 after it."""
    max_connections: int = MAX_CONNECTIONS
    """Open connections beyond this get 503 and are closed at once (a connection flood
    cannot starve the process of file descriptors)."""
    omit_empty_scope: bool = False
    """Leave ``scope`` out of a token response when nothing was granted. The seed returns
    it empty ("If no role is defined, scope is returned empty"), hence the default."""
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    """Peers whose ``X-Forwarded-Proto``/``-Host`` are believed (metadata URLs)."""
    proxies: tuple[str, ...] = ()
    """The ApiProxies ``/authz`` checks for (any when empty), as
    ``[ApiProxy/][<namespace>/]<name>``; with exactly one, it is the proxy whatever
    ``X-Gatekey-Proxy`` says (sidecar mode)."""
    home_namespace: str | None = None
    """Where a bare proxy name points (:mod:`gatekey.issuer.proxies`)."""
    original_request_headers: tuple[tuple[str, str], ...] = (
        ("X-Original-URI", "X-Original-Method"),
        ("X-Forwarded-Uri", "X-Forwarded-Method"),
    )
    """``(URI header, method header)`` pairs through which a gateway tells ``/authz`` the
    request it checks (nginx ``auth_request``, then Traefik ``ForwardAuth``), believed
    only from ``trusted_proxies`` or in sidecar mode."""

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str | None:
        """The client's address: behind trusted proxies, the nearest ``X-Forwarded-For``
        hop that is not one of them (the hops further left could be forged)."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (an IP address) is a trusted reverse proxy."""
        if not peer or not self.trusted_proxies:
            return False
        try:
            address = ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)
