"""A Credential Metadata key equal to a token response field name is refused by the
operator itself (Ready=False ``ResponseFieldClash``), not only skipped by the issuer."""

import pytest

from tests.operator.helpers import events_for, wait_condition
from tests.support.kube_harness import KubeClient, wait_for
from tests.support.manifests import credential, policy

pytestmark = pytest.mark.usefixtures("operator")


def renamed(name: str) -> dict:
    return {"response": {"fieldNames": {"access_token": name}}}


def test_a_key_equal_to_a_renamed_response_field_is_not_ready(kube: KubeClient, ns: str) -> None:
    kube.create(
        policy(
            "shop", "OAuth2", "ProxyGroup/shop", management="ACL", tokenManagement=renamed("token")
        ),
        ns,
    )
    claims = [{"key": "tier", "value": "gold"}, {"key": "token", "value": "x"}]
    kube.create(credential("billing", ["ProxyGroup/shop"], claims=claims), ns)

    cr = wait_condition(kube, "Credential", ns, "billing", "False", "ResponseFieldClash")
    message = cr["status"]["conditions"][0]["message"]
    assert "claims key 'token' is a token response field name" in message
    # Not served: no ConfigMap for the issuer; its client Secret is kept for the fix.
    assert kube.get("ConfigMap", ns, "gatekey-credential-billing") is None
    secret = kube.get("Secret", ns, "billing-credentials")
    assert secret is not None
    warnings = wait_for(
        lambda: [e for e in events_for(kube, ns, "billing") if e[1] == "ResponseFieldClash"]
    )
    assert warnings[0][0] == "Warning"

    # Renaming the response field elsewhere fixes it, with the same client secret.
    kube.patch("AuthPolicy", ns, "shop", {"spec": {"tokenManagement": renamed("tok")}})
    wait_condition(kube, "Credential", ns, "billing")
    assert kube.get("ConfigMap", ns, "gatekey-credential-billing") is not None
    assert kube.get("Secret", ns, "billing-credentials")["data"] == secret["data"]


def test_a_policy_the_acl_does_not_name_does_not_matter(kube: KubeClient, ns: str) -> None:
    kube.create(
        policy(
            "shop", "OAuth2", "ProxyGroup/shop", management="ACL", tokenManagement=renamed("token")
        ),
        ns,
    )
    kube.create(policy("orders", "OAuth2", "ApiProxy/orders", management="ACL"), ns)
    claims = [{"key": "token", "value": "x"}]
    kube.create(credential("billing", ["ApiProxy/orders"], claims=claims), ns)
    wait_condition(kube, "Credential", ns, "billing")
