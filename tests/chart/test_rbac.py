"""The chart's RBAC: exactly what each ServiceAccount may do, and where.

Grants are worked out from the rendered Roles, ClusterRoles and bindings, as the API server's
authorizer would, and compared with the table in docs/helm.md (section "RBAC"), so that the
documentation and the chart cannot drift apart.
"""

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.chart.conftest import NAMESPACE, RELEASE, ROOT, VALUE_SETS, Helm, find

Rendered = Callable[[str], list[dict[str, Any]]]
# (namespace, or "*" for cluster-wide; API group; resource; verb)
Grant = tuple[str, str, str, str]

OPERATOR = f"{RELEASE}-gatekey-operator"
ISSUER = f"{RELEASE}-gatekey-issuer"
EXAMPLE_PROXY = f"{RELEASE}-gatekey-example-proxy"


def grants(objects: list[dict[str, Any]]) -> dict[str, set[Grant]]:
    """ServiceAccount (``namespace/name``) -> what its bindings grant it."""
    roles = {
        (r["kind"], r["metadata"].get("namespace"), r["metadata"]["name"]): r["rules"]
        for r in find(objects, "Role") + find(objects, "ClusterRole")
    }
    found: dict[str, set[Grant]] = {}
    for binding in find(objects, "RoleBinding") + find(objects, "ClusterRoleBinding"):
        where = binding["metadata"].get("namespace") or "*"
        ref = binding["roleRef"]
        assert ref["apiGroup"] == "rbac.authorization.k8s.io"
        role_ns = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        rules = roles[(ref["kind"], role_ns, ref["name"])]  # a dangling roleRef fails here
        for subject in binding["subjects"]:
            assert subject["kind"] == "ServiceAccount"
            who = f"{subject['namespace']}/{subject['name']}"
            for rule in rules:
                assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no resourceNames
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        for verb in rule["verbs"]:
                            found.setdefault(who, set()).add((where, group, resource, verb))
    return found


def documented() -> dict[str, set[tuple[str, str, str]]]:
    """The table of docs/helm.md: component -> (API group, resource, verb)."""
    text = (ROOT / "docs" / "helm.md").read_text()
    section = text.split("\n## RBAC\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[tuple[str, str, str]]] = {}
    for line in section.splitlines():
        cells = [c.replace("`", "").strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("who", "---") or set(cells[0]) <= {"-"}:
            continue
        who, group, resources, verbs, _why = cells
        group = "" if group == "core" else group
        for resource in re.split(r",\s*", resources):
            for verb in re.split(r",\s*", verbs):
                table.setdefault(who, set()).add((group, resource, verb))
    return table


def in_namespaces(rules: set[tuple[str, str, str]], *namespaces: str) -> set[Grant]:
    return {(ns, *rule) for ns in namespaces for rule in rules}


def test_the_documented_table_is_complete() -> None:
    table = documented()
    assert sorted(table) == ["issuer", "operator"]
    # What the table must say, whatever else changes.
    assert ("", "secrets", "create") in table["operator"]
    assert {verb for group, res, verb in table["issuer"]} == {"get", "list", "watch"}


Table = dict[str, set[tuple[str, str, str]]]


@pytest.fixture
def table() -> Table:
    return documented()


def test_default_rbac_is_namespaced(rendered: Rendered, table: Table) -> None:
    objects = rendered("default")
    assert not find(objects, "ClusterRole")
    assert not find(objects, "ClusterRoleBinding")
    assert grants(objects) == {
        f"{NAMESPACE}/{OPERATOR}": in_namespaces(table["operator"], NAMESPACE),
        f"{NAMESPACE}/{ISSUER}": in_namespaces(table["issuer"], NAMESPACE),
    }


def test_cluster_wide_rbac(rendered: Rendered, table: Table) -> None:
    objects = rendered("cluster-wide")
    assert [r["metadata"]["name"] for r in find(objects, "ClusterRole")] == [OPERATOR]
    # The operator everywhere; the issuer still only reads its own namespace.
    assert grants(objects) == {
        f"{NAMESPACE}/{OPERATOR}": in_namespaces(table["operator"], "*"),
        f"{NAMESPACE}/{ISSUER}": in_namespaces(table["issuer"], NAMESPACE),
    }


def test_rbac_for_named_namespaces(rendered: Rendered, table: Table) -> None:
    found = grants(rendered("namespaces"))
    assert found == {
        f"{NAMESPACE}/{OPERATOR}": in_namespaces(table["operator"], "shop", "billing"),
        f"{NAMESPACE}/{ISSUER}": in_namespaces(table["issuer"], "shop", "billing"),
        # issuer.rbac.extraSubjects: a proxy Pod with the issuer sidecar.
        "shop/orders": in_namespaces(table["issuer"], "shop", "billing"),
    }


def test_the_example_proxy_reads_like_the_issuer(rendered: Rendered, table: Table) -> None:
    found = grants(rendered("sidecar"))
    assert found[f"{NAMESPACE}/{EXAMPLE_PROXY}"] == in_namespaces(table["issuer"], NAMESPACE)
    only_sidecars = grants(rendered("sidecar-only"))
    assert sorted(only_sidecars) == [f"{NAMESPACE}/{EXAMPLE_PROXY}", f"{NAMESPACE}/{OPERATOR}"]


def test_rbac_create_false_creates_none(helm: Helm) -> None:
    objects = helm.template({"rbac": {"create": False}})
    for kind in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"):
        assert not find(objects, kind)


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_least_privilege(rendered: Rendered, name: str) -> None:
    """Whatever the values: no wildcard, no `update` (nothing here replaces objects), no RBAC
    or impersonation verbs, and the issuer never writes."""
    for who, granted in grants(rendered(name)).items():
        for _where, group, resource, verb in granted:
            assert "*" not in (group, resource, verb), who
            assert verb not in ("update", "escalate", "bind", "impersonate", "deletecollection")
            assert resource not in ("pods", "pods/exec", "namespaces", "nodes", "serviceaccounts")
        if not who.endswith(OPERATOR):
            assert {verb for *_, verb in granted} <= {"get", "list", "watch"}, who


def test_the_verbs_each_role_grants(rendered: Rendered) -> None:
    """The list of verbs, per role and resource, spelt out (the issue's "RBAC checked by a test
    that lists the verbs each role grants")."""
    objects = rendered("default")
    listed = {
        role["metadata"]["name"]: {
            resource: sorted(rule["verbs"])
            for rule in role["rules"]
            for resource in rule["resources"]
        }
        for role in find(objects, "Role")
    }
    assert listed == {
        OPERATOR: {
            "authpolicies": ["get", "list", "patch", "watch"],
            "credentials": ["get", "list", "patch", "watch"],
            "roles": ["get", "list", "patch", "watch"],
            "authpolicies/status": ["get", "patch"],
            "credentials/status": ["get", "patch"],
            "roles/status": ["get", "patch"],
            "secrets": ["create", "delete", "get", "list", "patch", "watch"],
            "configmaps": ["create", "delete", "get", "list", "patch", "watch"],
            "events": ["create"],
        },
        ISSUER: {
            "secrets": ["get", "list", "watch"],
            "configmaps": ["get", "list", "watch"],
        },
    }
