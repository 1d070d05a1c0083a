"""DPoP at the HTTP edge (RFC 9449): the proof header, the URLs a proof may name, and the
replay check that needs the store. The checks themselves are :mod:`gatekey.issuer.dpop`'s."""

from aiohttp import web

from gatekey.issuer.dpop import ALGORITHMS, InvalidProof, Proof, check_proof, token_hash
from gatekey.issuer.store.ports import ReplayCache

HEADER = "DPoP"
CHALLENGE = f'DPoP algs="{" ".join(ALGORITHMS)}"'
"""RFC 9449 §7.1: the ``WWW-Authenticate`` scheme of a resource server that accepts DPoP."""


def proof_of(request: web.Request) -> str | None:
    """The request's proof; more than one ``DPoP`` header is refused (§4.3 item 1)."""
    values = request.headers.getall(HEADER, [])
    if len(values) > 1:
        raise InvalidProof("a request carries at most one DPoP header")
    return values[0] if values else None


async def checked(
    store: ReplayCache,
    proof: str,
    *,
    method: str,
    urls: tuple[str, ...],
    now: float,
    access_token: str | None = None,
) -> Proof:
    """The proof, checked for this request and never seen before (§11.1)."""
    result = check_proof(proof, method=method, urls=urls, now=now, access_token=access_token)
    # The jti is the client's choice: hash it, so that the store key has a bounded size.
    if not await store.remember_once(
        f"dpop:{result.jkt}:{token_hash(result.jti)}", result.expires_at
    ):
        raise InvalidProof("the DPoP proof was used before")
    return result


def dpop_challenge(error: str, description: str) -> str:
    """``DPoP algs="...", error="...", error_description="..."`` (§7.1)."""
    safe = description.replace('"', "'").replace("\\", "/")
    return f'{CHALLENGE}, error="{error}", error_description="{safe}"'
