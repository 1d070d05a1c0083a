"""Offline validation of Kubernetes objects: what the API server would refuse, without one.

- Built-in kinds: the OpenAPI schemas of the Kubernetes releases bundled in the
  ``kubernetes-validate`` package, strict (an unknown field is an error, as with
  ``kubectl --validate=strict``), for the oldest release the chart supports and the newest.
- Gatekey's kinds: the ``openAPIV3Schema`` of the CRDs in ``crds/``, applied as the API server
  does (pruning, defaults, OpenAPI and CEL rules: ``tests/support/kube_semantics.py``), strict.
- ServiceMonitor (Prometheus Operator, not in the Kubernetes schemas): a transcription of the
  fields the chart uses from monitoring.coreos.com/v1, so that a misspelt field fails.
"""

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.support.kube_semantics import CustomSchema

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"

# The chart's kubeVersion floor (Chart.yaml) and the newest schemas the package has.
KUBERNETES_VERSIONS = ("1.27", kubernetes_validate.latest_version())

_DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["selector"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": _LABELS,
                        "matchExpressions": {"type": "array"},
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": _DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
                "jobLabel": {"type": "string"},
            },
        },
    },
}


@cache
def custom_schemas() -> dict[tuple[str, str], CustomSchema]:
    """``(apiVersion, kind)`` -> the CRD's schema, for every version of every CRD in crds/."""
    schemas = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
            schemas[key] = CustomSchema(version["schema"]["openAPIV3Schema"])
    return schemas


def problems(obj: dict[str, Any]) -> list[str]:
    """Why the API server would refuse ``obj`` (empty when it is valid)."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key in custom_schemas():
        _, errors = custom_schemas()[key].admit(obj, strict=True)
        return [str(e) for e in errors]
    if key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
        validator = jsonschema.Draft202012Validator(SERVICE_MONITOR)
        return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    found = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.absolute_path)
            found.append(f"Kubernetes {version}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            found.append(f"Kubernetes {version}: {exc.message}")
    return found


def describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
