"""charts/gatekey: lint, render with each value set, and validate every object offline."""

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    NAMESPACE,
    REDIS,
    RELEASE,
    ROOT,
    VALUE_SETS,
    Helm,
    HelmError,
    component,
    find,
    one,
)
from tests.chart.schemas import describe, problems

Rendered = Callable[[str], list[dict[str, Any]]]

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")


def containers(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``(deployment name, container)`` for every container of every Deployment."""
    return [
        (d["metadata"]["name"], c)
        for d in find(objects, "Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def args_of(objects: list[dict[str, Any]], deployment: str, container: str) -> list[str]:
    pod = component(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    (found,) = [c for c in pod["containers"] if c["name"] == container]
    return list(found["args"])


# -- helm itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint_strict(helm: Helm, name: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUE_SETS[name]))
    out = helm.run("lint", CHART, "--strict", "--namespace", NAMESPACE, "--values", values)
    assert "0 chart(s) failed" in out


def test_the_chart_crds_are_the_crds_folder() -> None:
    """charts/gatekey/crds/ must be byte-identical copies of crds/ (copy them after `make crds`)."""
    ours = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    source = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    assert sorted(ours) == sorted(source)
    for name, content in source.items():
        assert ours[name] == content, f"charts/gatekey/crds/{name} differs from crds/{name}"


# -- every rendered object is one the API server accepts -------------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_rendered_object_is_valid(rendered: Rendered, name: str) -> None:
    objects = rendered(name)
    assert objects, "nothing rendered"
    found = {describe(o): problems(o) for o in objects}
    assert {k: v for k, v in found.items() if v} == {}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_names_and_labels_are_well_formed(rendered: Rendered, name: str) -> None:
    for obj in rendered(name):
        meta = obj["metadata"]
        pattern = DNS_LABEL if obj["kind"] in ("Service", "Namespace") else DNS_SUBDOMAIN
        assert pattern.match(meta["name"]), describe(obj)
        for key, value in (meta.get("labels") or {}).items():
            assert LABEL_VALUE.match(str(value)), f"{describe(obj)}: label {key}={value!r}"
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
            assert meta.get("namespace"), f"{describe(obj)} has no namespace"


def test_the_validation_catches_a_bad_object(rendered: Rendered) -> None:
    """The validator is not a rubber stamp: a misspelt field, a wrong type, a bad CR."""
    deployment = component(rendered("default"), "Deployment", "issuer")
    misspelt = yaml.safe_load(yaml.safe_dump(deployment))
    misspelt["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    assert any("imagePullPolcy" in p for p in problems(misspelt))
    mistyped = yaml.safe_load(yaml.safe_dump(deployment))
    mistyped["spec"]["replicas"] = "two"
    assert any("'two'" in p for p in problems(mistyped))
    policy = {
        "apiVersion": "gatekey.io/v1alpha1",
        "kind": "AuthPolicy",
        "metadata": {"name": "p"},
        "spec": {"type": "JWT", "targetRef": {"kind": "ApiProxy", "name": "orders"}},
    }
    assert problems(policy) == []
    policy["spec"]["grantTypes"] = ["password"]  # a CEL rule: password needs a userPool
    assert any("userPool" in p for p in problems(policy))
    policy["spec"]["tokenn"] = {}
    assert any("tokenn" in p for p in problems(policy))
    monitor = component(rendered("service-monitor"), "ServiceMonitor", "issuer")
    monitor = yaml.safe_load(yaml.safe_dump(monitor))
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert problems(monitor)


def test_default_values_render_the_operator_and_the_issuer(rendered: Rendered) -> None:
    objects = rendered("default")
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert kinds == sorted(
        [
            "CustomResourceDefinition/authpolicies.gatekey.io",
            "CustomResourceDefinition/credentials.gatekey.io",
            "CustomResourceDefinition/roles.gatekey.io",
            f"Deployment/{RELEASE}-gatekey-issuer",
            f"Deployment/{RELEASE}-gatekey-operator",
            f"Role/{RELEASE}-gatekey-issuer",
            f"Role/{RELEASE}-gatekey-operator",
            f"RoleBinding/{RELEASE}-gatekey-issuer",
            f"RoleBinding/{RELEASE}-gatekey-operator",
            f"Service/{RELEASE}-gatekey-issuer",
            f"ServiceAccount/{RELEASE}-gatekey-issuer",
            f"ServiceAccount/{RELEASE}-gatekey-operator",
        ]
    )


# -- the pods ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_container_is_hardened(rendered: Rendered, name: str) -> None:
    objects = rendered(name)
    for deployment in find(objects, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["runAsNonRoot"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            # Every container gets a writable /tmp, and only emptyDirs are writable.
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            assert mounts["/tmp"]["name"] in writable, where
            assert "resources" in container, where


def test_the_issuer_deployment(rendered: Rendered) -> None:
    objects = rendered("default")
    deployment = component(objects, "Deployment", "issuer")
    pod = deployment["spec"]["template"]["spec"]
    (issuer,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 1
    assert issuer["image"] == "gatekey:0.1.0"
    assert issuer["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert issuer["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    assert issuer["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert issuer["args"][:2] == ["serve", "--kube"]
    assert f"--namespace={NAMESPACE}" in issuer["args"]
    url = f"http://{RELEASE}-gatekey-issuer.{NAMESPACE}.svc.cluster.local:8080"
    assert f"--issuer-url={url}" in issuer["args"]
    # No Redis: the SQLite store goes to the state dir, an emptyDir.
    assert not [a for a in issuer["args"] if a.startswith("--store")]
    assert "--state-dir=/var/lib/gatekey" in issuer["args"]
    state = {m["mountPath"]: m["name"] for m in issuer["volumeMounts"]}["/var/lib/gatekey"]
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}[state]
    assert pod["serviceAccountName"] == f"{RELEASE}-gatekey-issuer"

    service = component(objects, "Service", "issuer")
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    # The issuer and the operator do not select each other's Pods.
    operator = component(objects, "Deployment", "operator")
    assert not operator["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_operator_deployment(rendered: Rendered) -> None:
    deployment = component(rendered("default"), "Deployment", "operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    liveness = "--liveness=http://0.0.0.0:8081/healthz"
    log_format = "--log-format=json"  # the chart's default: one JSON object per line
    # The operator's options, from values.yaml's defaults (the CLI's own defaults).
    options = [
        "--key-rotation=90d",
        "--key-prepublish=1h",
        "--resync-period=5m",
        "--debounce=0.05",
        "--failure-backoff=0.5,1,2,5,10,30",
        "--api-concurrency=16",
        # The issuers' Token Management Settings: render refuses a clashing Metadata key.
        "--scope-on-mismatch=Strict",
        "--scope-when-not-requested=None",
        "--expires-in-unit=seconds",
    ]
    assert args_of(rendered("default"), "operator", "operator") == [
        "operator",
        liveness,
        log_format,
        f"--namespace={NAMESPACE}",
        *options,
    ]
    assert args_of(rendered("namespaces"), "operator", "operator") == [
        "operator",
        liveness,
        log_format,
        "--namespace=shop",
        "--namespace=billing",
        *options,
    ]
    assert args_of(rendered("cluster-wide"), "operator", "operator") == [
        "operator",
        liveness,
        log_format,
        "--all-namespaces",
        *options,
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8081, "protocol": "TCP"} in container["ports"]


def test_redis_url_becomes_the_store(rendered: Rendered) -> None:
    assert f"--store={REDIS}" in args_of(rendered("redis"), "issuer", "issuer")
    # From a Secret: the environment variable the CLI reads, never an argument.
    secret = rendered("redis-secret")
    args = args_of(secret, "issuer", "issuer")
    assert not [a for a in args if a.startswith("--store")]
    (issuer,) = component(secret, "Deployment", "issuer")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in issuer["env"]}
    assert env["GATEKEY_STORE"]["valueFrom"] == {
        "secretKeyRef": {"name": "gatekey-redis-url", "key": "url"}
    }


def test_replicas_with_a_pod_disruption_budget(rendered: Rendered) -> None:
    assert not find(rendered("default"), "PodDisruptionBudget")  # one replica: none
    objects = rendered("ha")
    deployment = component(objects, "Deployment", "issuer")
    assert deployment["spec"]["replicas"] == 3
    budget = component(objects, "PodDisruptionBudget", "issuer")
    assert budget["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in budget["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    args = args_of(objects, "issuer", "issuer")
    for expected in (
        "--workers=2",
        "--issuer-url=https://auth.example.com",
        "--trusted-proxies=10.0.0.0/8",
        "--proxy=ApiProxy/orders",
        f"--store={REDIS}",
    ):
        assert expected in args
    (issuer,) = deployment["spec"]["template"]["spec"]["containers"]
    assert issuer["image"] == "gatekey@sha256:" + "a" * 64


def test_default_budget_allows_one_pod_down(helm: Helm) -> None:
    objects = helm.template({"redis": {"url": REDIS}, "issuer": {"replicas": 2}})
    budget = component(objects, "PodDisruptionBudget", "issuer")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": budget["spec"]["selector"]["matchLabels"]},
    }


def test_service_monitor(rendered: Rendered) -> None:
    assert not find(rendered("default"), "ServiceMonitor")
    objects = rendered("service-monitor")
    monitor = component(objects, "ServiceMonitor", "issuer")
    assert monitor["metadata"]["labels"]["r"] == "p"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    service = component(objects, "Service", "issuer")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


# -- the issuer as a sidecar ---------------------------------------------------------------


def test_example_proxy_runs_the_issuer_as_a_sidecar(rendered: Rendered) -> None:
    objects = rendered("sidecar")
    pod = component(objects, "Deployment", "example-proxy")["spec"]["template"]["spec"]
    by_name = {c["name"]: c for c in pod["containers"]}
    assert sorted(by_name) == ["gatekey", "nginx"]
    sidecar = by_name["gatekey"]
    assert sidecar["image"] == "gatekey:0.1.0"
    assert "--proxy=ApiProxy/orders" in sidecar["args"]
    assert "--port=8181" in sidecar["args"]
    assert "--trusted-proxies=127.0.0.1/32,::1/128" in sidecar["args"]
    # The same issuer URL as the standalone issuer: each accepts the other's JWTs.
    standalone = args_of(objects, "issuer", "issuer")
    assert [a for a in sidecar["args"] if a.startswith("--issuer-url")] == [
        a for a in standalone if a.startswith("--issuer-url")
    ]
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8181}
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in sidecar["volumeMounts"]} <= volumes
    # The Pod's account may read the operator's output (the issuer's Role).
    binding = component(objects, "RoleBinding", "issuer")
    assert {
        "kind": "ServiceAccount",
        "name": pod["serviceAccountName"],
        "namespace": NAMESPACE,
    } in binding["subjects"]


def test_sidecar_only_names_its_own_url_and_upstream(rendered: Rendered) -> None:
    objects = rendered("sidecar-only")
    assert not find(objects, "Deployment", f"{RELEASE}-gatekey-issuer")
    assert not find(objects, "Service", f"{RELEASE}-gatekey-issuer")
    sidecar_args = args_of(objects, "example-proxy", "gatekey")
    assert "--proxy=ApiProxy/payments" in sidecar_args
    url = f"http://{RELEASE}-gatekey-example-proxy.{NAMESPACE}.svc.cluster.local"
    assert f"--issuer-url={url}" in sidecar_args
    conf = component(objects, "ConfigMap", "example-proxy")["data"]["nginx.conf"]
    assert "server payments-api:80;" in conf
    assert "X-Gatekey-Proxy payments;" in conf
    assert "listen 127.0.0.1:9000" not in conf  # no built-in echo API


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (make tools)")
def test_example_proxy_nginx_conf_is_accepted_by_nginx(rendered: Rendered, tmp_path: Path) -> None:
    conf = component(rendered("sidecar"), "ConfigMap", "example-proxy")["data"]["nginx.conf"]
    # Paths under the image's /tmp go to a private folder; nginx -t checks syntax and modules
    # (auth_request) without binding the ports.
    local = conf.replace("/tmp/", f"{tmp_path}/")
    (tmp_path / "nginx.conf").write_text(local)
    done = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_parent_chart_includes_the_sidecar(helm: Helm, tmp_path: Path) -> None:
    """The documented include (docs/helm.md): gatekey as a dependency, the sidecar template in
    the parent's own Deployment, with `.Subcharts.gatekey` as its context."""
    parent = tmp_path / "orders-proxy"
    (parent / "templates").mkdir(parents=True)
    (parent / "charts").mkdir()
    shutil.copytree(CHART, parent / "charts" / "gatekey")
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: orders-proxy\nversion: 1.0.0\n"
        "dependencies:\n  - name: gatekey\n    version: 0.1.0\n"
    )
    (parent / "values.yaml").write_text(
        yaml.safe_dump(
            {
                "gatekey": {
                    "operator": {"enabled": False},
                    "issuer": {
                        "issuerUrl": "https://auth.example.com",
                        "rbac": {
                            "extraSubjects": [
                                {
                                    "kind": "ServiceAccount",
                                    "name": "orders-proxy",
                                    "namespace": NAMESPACE,
                                }
                            ]
                        },
                    },
                    "redis": {"url": REDIS},
                }
            }
        )
    )
    (parent / "templates" / "deployment.yaml").write_text(
        """\
{{- $gk := .Subcharts.gatekey }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders-proxy
  namespace: {{ .Release.Namespace }}
spec:
  selector:
    matchLabels: {app: orders-proxy}
  template:
    metadata:
      labels: {app: orders-proxy}
    spec:
      serviceAccountName: orders-proxy
      containers:
        - name: proxy
          image: nginx
        {{- include "gatekey.issuerSidecar" (dict "context" $gk "proxy" "orders") | nindent 8 }}
      volumes:
        {{- include "gatekey.issuerSidecarVolumes" (dict "context" $gk) | nindent 8 }}
"""
    )
    objects = helm.template({}, chart=parent)
    deployment = one(objects, "Deployment", "orders-proxy")
    assert problems(deployment) == []
    pod = deployment["spec"]["template"]["spec"]
    (sidecar,) = [c for c in pod["containers"] if c["name"] == "gatekey"]
    assert sidecar["image"] == "gatekey:0.1.0"  # the gatekey chart's appVersion, not the parent's
    for expected in (
        "--proxy=ApiProxy/orders",
        "--issuer-url=https://auth.example.com",
        f"--store={REDIS}",
        f"--namespace={NAMESPACE}",
    ):
        assert expected in sidecar["args"]
    assert {m["name"] for m in sidecar["volumeMounts"]} <= {v["name"] for v in pod["volumes"]}
    binding = component(objects, "RoleBinding", "issuer")
    assert {"kind": "ServiceAccount", "name": "orders-proxy", "namespace": NAMESPACE} in binding[
        "subjects"
    ]
    assert not find(objects, "Deployment", f"{RELEASE}-gatekey-operator")


def test_the_sidecar_template_says_what_is_missing(helm: Helm, tmp_path: Path) -> None:
    chart = tmp_path / "broken"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "mine.yaml").write_text(
        '{{- include "gatekey.issuerSidecar" (dict "context" $) }}\n'
    )
    with pytest.raises(HelmError, match=r'name the ApiProxy as \\?"proxy'):
        helm.template({}, chart=chart)


# -- values the chart refuses --------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"issuer": {"replica": 2}}, "additional properties 'replica' not allowed"),
        ({"issuer": {"replicas": "two"}}, "/issuer/replicas"),
        ({"redis": {"url": "http://redis:6379"}}, "/redis/url"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"rbac": {"clusterWide": "yes"}}, "/rbac/clusterWide"),
        ({"issuer": {"trustedProxies": ["10.0.0.0"]}}, "/issuer/trustedProxies/0"),
        ({"issuer": {"replicas": 2}}, "issuer.replicas > 1 needs a shared token store"),
        (
            {"exampleProxy": {"enabled": True, "replicas": 2}},
            "exampleProxy.replicas > 1 needs a shared token store",
        ),
    ],
)
def test_values_the_chart_refuses(helm: Helm, values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmError) as refused:
        helm.template(values)
    assert message in str(refused.value)


def test_every_value_is_commented_and_typed() -> None:
    """values.yaml: a comment above every key (the keys inside a value documented with
    `# --`, such as a resources block, excepted); values.schema.json declares every key."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    uncommented = []
    documented: list[tuple[int, bool]] = []  # (indent, whether documented as one value)
    for number, line in enumerate(lines):
        key = re.match(r"^(\s*)[A-Za-z]\w*:", line)
        if not key:
            continue
        indent = len(key.group(1))
        while documented and documented[-1][0] >= indent:
            documented.pop()
        block = []  # the comment lines right above the key
        for previous in reversed(lines[:number]):
            if not previous.strip().startswith("#"):
                break
            block.insert(0, previous.strip())
        inside_value = any(is_value for _, is_value in documented)
        if not block and not inside_value:
            uncommented.append(f"values.yaml:{number + 1}: {line.strip()}")
        documented.append((indent, bool(block) and block[0].startswith("# --")))
    assert uncommented == []

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert list(_undeclared(values, schema, schema, "")) == []


def _undeclared(value: Any, node: dict[str, Any], schema: dict[str, Any], path: str) -> Any:
    if "$ref" in node:
        node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
    if not isinstance(value, dict) or "properties" not in node:
        return
    for key, item in value.items():
        if key not in node["properties"]:
            yield f"{path}.{key}"
        else:
            yield from _undeclared(item, node["properties"][key], schema, f"{path}.{key}")


# -- NOTES.txt -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "sidecar-only", "ha"])
def test_notes_tell_how_to_get_a_key_and_a_token(helm: Helm, name: str, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUE_SETS[name]))
    out = helm.run(
        "install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE, "--values", values
    )
    notes = out.split("\nNOTES:\n", 1)[1]
    assert (
        f"kubectl -n {NAMESPACE} get secret apiproxy-orders-proxy-key "
        "-o jsonpath='{.data.client_secret}' | base64 -d"
    ) in notes
    assert "curl -s http" in notes
    assert "/auth/jwt" in notes
    assert "-d grant_type=client_credentials" in notes
    assert "<no value>" not in notes


def test_workers_share_the_pods_sqlite_file_without_redis(helm: Helm) -> None:
    """``--workers N`` needs no Redis: the processes of one Pod share its SQLite file."""
    objects = helm.template({"issuer": {"workers": 4}})
    args = args_of(objects, "issuer", "issuer")
    assert "--workers=4" in args
    assert "--state-dir=/var/lib/gatekey" in args
    assert not [a for a in args if a.startswith("--store")]
