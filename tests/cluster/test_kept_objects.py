"""What the cluster source keeps of each watched object: enough for the snapshot, not the
server's bookkeeping (at 10,000 Credentials ``managedFields`` alone cost 43 MiB)."""

from gatekey.issuer.kube.source import ClusterSource
from gatekey.operator.kube.access import Access, Credentials
from gatekey.operator.model import TokenManagement


def test_managed_fields_are_not_kept():
    source = ClusterSource(
        Access.fixed(Credentials(server="http://127.0.0.1:9")), ["shop"], TokenManagement()
    )
    metadata = {
        "name": "gatekey-credential-svc",
        "labels": {"gatekey.io/component": "issuer-config"},
        "annotations": {"gatekey.io/source-kind": "Credential"},
        "creationTimestamp": "2026-12-01T00:00:00Z",
        "resourceVersion": "42",
        "managedFields": [{"manager": "gatekey-operator", "fieldsV1": {"f:data": {}}}],
    }
    source._store("ConfigMap", "shop", {"metadata": metadata, "data": {"k": "v"}})
    (kept,) = source.objects.values()
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"] == {
        key: value for key, value in metadata.items() if key != "managedFields"
    } | {"namespace": "shop"}
    assert (kept["kind"], kept["apiVersion"], kept["data"]) == ("ConfigMap", "v1", {"k": "v"})
