{{/* The RBAC rules of the operator and of the issuer, used by operator/rbac.yaml and issuer/rbac.yaml. */}}

{{- /*
The operator's permissions, least privilege. What it calls (operator/kube/ and kopf):
  - kopf lists and watches the three kinds, keeps its progress in annotations (merge and JSON
    patches of the object) and the operator patches their /status;
  - kopf indexes every Secret and the Gatekey ConfigMaps (list, watch); the operator creates
    (POST), changes (merge PATCH) and deletes (DELETE with a uid precondition) only the objects
    it renders; it never replaces an object (PUT), so no `update`;
  - kopf and the operator post core v1 Events (POST only; events.k8s.io is not used);
  - kopf's cluster scanning is switched off (operator/kube/main.py), so it neither lists
    namespaces nor watches CustomResourceDefinitions: API discovery (/api, /apis) is all it
    reads, and every authenticated user may do that.
*/ -}}
{{- define "gatekey.operatorRules" -}}
# The three Gatekey kinds: watch them; kopf keeps its progress in annotations (patch).
- apiGroups: [gatekey.io]
  resources: [authpolicies, credentials, roles]
  verbs: [get, list, watch, patch]
# Their status: conditions, clientId, secretName, ... (merge patches of /status).
- apiGroups: [gatekey.io]
  resources: [authpolicies/status, credentials/status, roles/status]
  verbs: [get, patch]
# Secrets and ConfigMaps: read them all (user pools, adopted client secrets, valueFrom sources
# can be any Secret); create, patch and delete the labelled objects it renders.
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch, create, patch, delete]
# Events about the custom resources (kubectl describe).
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}

{{- /*
The issuer's permissions: read-only. `gatekey serve --kube` lists and watches the Secrets and
ConfigMaps labelled gatekey.io/component=issuer-config in each namespace it serves
(issuer/kube/). RBAC cannot grant by label, so the grant covers every Secret and ConfigMap of
those namespaces, for reading only; the issuer itself keeps only the labelled ones.
*/ -}}
{{- define "gatekey.issuerRules" -}}
# Read the operator's output (labelled Secrets and ConfigMaps); never write anything.
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get, list, watch]
{{- end }}
