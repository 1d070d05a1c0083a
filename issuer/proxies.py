"""How ``/authz`` names the ApiProxy it checks for (pure).

A proxy is named ``[ApiProxy/][<namespace>/]<name>``, in ``X-Gatekey-Proxy`` or in
``--proxy``. Proxy names are unique only within a namespace, so an issuer serving
several namespaces needs the qualified form; a bare name means the proxy in the
issuer's home namespace, which never depends on what another namespace creates:

- ``--namespace`` given (cluster mode: the first watched namespace, else the issuer's
  own): that namespace;
- the embedded mode without ``--namespace``: the only namespace the folder's policies
  use, or ``default`` when they use several (the folder has a single author).
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from gatekey.operator.model.common import NAME_PATTERN

_NAME = re.compile(NAME_PATTERN)
KIND_PREFIX = "ApiProxy/"


@dataclass(frozen=True, slots=True)
class ProxyName:
    """A proxy as named by a gateway or a flag; ``namespace`` None for a bare name."""

    namespace: str | None
    name: str

    def resolve(self, home: str) -> tuple[str, str]:
        """``(namespace, name)``, a bare name taken in ``home``."""
        return (self.namespace or home, self.name)


@lru_cache(maxsize=256)  # bounded: the header is the caller's to choose
def parse_proxy(text: str) -> ProxyName | None:
    """``[ApiProxy/][<namespace>/]<name>``; None when it is not such a name.

    Cached: gateways send the same few values on every ``/authz`` call."""
    namespace, _, name = text.strip().removeprefix(KIND_PREFIX).rpartition("/")
    if not _NAME.fullmatch(name) or (namespace and not _NAME.fullmatch(namespace)):
        return None
    return ProxyName(namespace or None, name)


def home_namespace(configured: str | None, namespaces: frozenset[str]) -> str:
    """Where a bare proxy name points: see the module's docstring."""
    if configured:
        return configured
    return next(iter(namespaces)) if len(namespaces) == 1 else "default"
