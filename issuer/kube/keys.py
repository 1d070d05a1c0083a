"""``gatekey show-key --kube``: a client id and secret read from the cluster.

The same credentials as ``gatekey serve --kube`` (service account in a Pod, else
the kubeconfig), and only what the issuer may read anyway: the labelled
ConfigMap of the AuthPolicy or Credential names the Secret, then the Secret.
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from gatekey.operator import contract
from gatekey.operator.kube.access import Credentials

TARGET_KINDS = ("ApiProxy", "ProxyGroup", "PolicyGroup")


class KeyNotFound(Exception):
    """No key for the target; the message says what was looked for."""


@dataclass(frozen=True)
class Key:
    """A client's id and secret."""

    client_id: str
    client_secret: str


async def read_key(access: Credentials, namespace: str, kind: str, name: str) -> Key:
    """The key of ``Credential/name`` or of the proxy key of target ``kind/name``."""
    async with aiohttp.ClientSession(
        headers=access.headers(), timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        api = _Api(session, access, namespace)
        if kind == "Credential":
            secret_name = await api.credential_secret(name)
        elif kind in TARGET_KINDS:
            secret_name = await api.proxy_key_secret(kind, name)
        else:
            raise KeyNotFound(f"{kind}: expected Credential or one of {', '.join(TARGET_KINDS)}")
        secret = await api.get(f"secrets/{quote(secret_name)}")
        if secret is None:
            raise KeyNotFound(f"Secret {namespace}/{secret_name} not found")
        values = contract.secret_values(secret)
        try:
            return Key(values[contract.CLIENT_ID_KEY], values[contract.CLIENT_SECRET_KEY])
        except KeyError:
            raise KeyNotFound(
                f"Secret {namespace}/{secret_name} has no client_id or client_secret"
            ) from None


class _Api:
    def __init__(self, session: aiohttp.ClientSession, access: Credentials, namespace: str) -> None:
        self.session, self.access = session, access
        self.base = f"{access.server}/api/v1/namespaces/{quote(namespace)}"
        self.namespace = namespace

    async def get(self, path: str, **params: str) -> Any:
        async with self.session.get(
            f"{self.base}/{path}",
            params=params,
            ssl=self.access.ssl_context,
            server_hostname=self.access.tls_server_name,
        ) as response:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise KeyNotFound(
                    f"the API server answered {response.status} to GET {path} in "
                    f"namespace {self.namespace}"
                )
            return await response.json()

    async def credential_secret(self, name: str) -> str:
        found = await self.get(f"configmaps/{quote(contract.credential_configmap(name))}")
        if found is None or contract.config_kind(found) != "credential":
            raise KeyNotFound(f"no Credential {self.namespace}/{name} rendered by the operator")
        return str(contract.payload(found, contract.CREDENTIAL_KEY)["secretName"])

    async def proxy_key_secret(self, kind: str, name: str) -> str:
        selector = f"{contract.SELECTOR},{contract.CONFIG_KIND_LABEL}=authpolicy"
        listed = await self.get("configmaps", labelSelector=selector) or {}
        for item in listed.get("items") or []:
            policy = contract.payload(item, contract.AUTHPOLICY_KEY)
            spec = policy.get("spec") or {}
            target = spec.get("targetRef") or {}
            if (target.get("kind"), target.get("name")) == (kind, name) and policy.get(
                "proxyKeySecretName"
            ):
                return str(policy["proxyKeySecretName"])
        raise KeyNotFound(
            f"no AuthPolicy with management Policy targets {kind}/{name} "
            f"in namespace {self.namespace}"
        )
