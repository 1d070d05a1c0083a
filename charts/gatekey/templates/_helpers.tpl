{{/*
Names, labels and the pieces shared by the operator, the issuer and the issuer sidecar.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "gatekey.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-gatekey` (or just the release name when it contains the chart name). */}}
{{- define "gatekey.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* `<fullname>-<component>`, for objects of one component. Call with (list $ "issuer"). */}}
{{- define "gatekey.componentName" -}}
{{- $root := index . 0 }}
{{- printf "%s-%s" (include "gatekey.fullname" $root | trunc 50 | trimSuffix "-") (index . 1) }}
{{- end }}

{{/* Labels that select the Pods of one component. Call with (list $ "issuer"). */}}
{{- define "gatekey.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "gatekey.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Every label of an object of one component. Call with (list $ "issuer"). */}}
{{- define "gatekey.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gatekey.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: gatekey
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The Gatekey image reference. */}}
{{- define "gatekey.image" -}}
{{- $image := .Values.image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "gatekey.operatorServiceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "gatekey.componentName" (list . "operator")) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gatekey.issuerServiceAccountName" -}}
{{- if .Values.issuer.serviceAccount.create }}
{{- default (include "gatekey.componentName" (list . "issuer")) .Values.issuer.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.issuer.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The namespaces the operator reconciles when not cluster-wide, as a JSON list. */}}
{{- define "gatekey.operatorNamespaces" -}}
{{- default (list .Release.Namespace) .Values.operator.namespaces | uniq | toJson }}
{{- end }}

{{/* The namespaces the issuer (and every sidecar) reads, as a JSON list. */}}
{{- define "gatekey.issuerNamespaces" -}}
{{- default (list .Release.Namespace) .Values.issuer.namespaces | uniq | toJson }}
{{- end }}

{{/* `http://<service>.<namespace>.svc.<clusterDomain>[:port]`. Call with (list $ "issuer" 8080). */}}
{{- define "gatekey.serviceUrl" -}}
{{- $root := index . 0 }}
{{- $port := int (index . 2) }}
{{- $host := printf "%s.%s.svc.%s" (include "gatekey.componentName" (list $root (index . 1))) $root.Release.Namespace $root.Values.clusterDomain }}
{{- if eq $port 80 }}
{{- printf "http://%s" $host }}
{{- else }}
{{- printf "http://%s:%d" $host $port }}
{{- end }}
{{- end }}

{{/* The issuer URL: issuer.issuerUrl, or the standalone issuer's Service. */}}
{{- define "gatekey.issuerUrl" -}}
{{- if .Values.issuer.issuerUrl }}
{{- .Values.issuer.issuerUrl | trimSuffix "/" }}
{{- else }}
{{- include "gatekey.serviceUrl" (list . "issuer" .Values.issuer.service.port) }}
{{- end }}
{{- end }}

{{/* Whether a shared token store (Redis) is configured: "true" or "". */}}
{{- define "gatekey.sharedStore" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end }}
{{- end }}

{{/*
One issuer container (`gatekey serve --kube`), for the standalone Deployment and for sidecars.
Call with a dict:
  context          the gatekey chart's context: `$` inside this chart, `.Subcharts.gatekey`
                   in a parent chart
  name             container name
  port             container port
  proxies          ApiProxy names for --proxy (a list; may be empty)
  issuerUrl        --issuer-url
  trustedProxies   CIDRs for --trusted-proxies (a list; may be empty)
  resources        the container's resources
  workers          --workers (standalone only)
  probes           "true" to add the readiness and liveness probes of issuer.*Probe
  extraArgs, extraEnv  lists appended to the arguments and the environment
*/}}
{{- define "gatekey.issuerContainer" -}}
{{- $root := .context }}
{{- $values := $root.Values -}}
- name: {{ .name }}
  image: {{ include "gatekey.image" $root | quote }}
  imagePullPolicy: {{ $values.image.pullPolicy }}
  args:
    - serve
    - --kube
    - --host=0.0.0.0
    - --port={{ .port }}
    - --issuer-url={{ .issuerUrl }}
    # The SQLite token store (when no Redis is configured) lives in the state dir, an emptyDir.
    - --state-dir=/var/lib/gatekey
    {{- range include "gatekey.issuerNamespaces" $root | fromJsonArray }}
    - --namespace={{ . }}
    {{- end }}
    {{- range .proxies }}
    - --proxy=ApiProxy/{{ . }}
    {{- end }}
    {{- with .trustedProxies }}
    - --trusted-proxies={{ join "," . }}
    {{- end }}
    {{- if and $values.redis.url (not $values.redis.existingSecret) }}
    - --store={{ $values.redis.url }}
    {{- end }}
    {{- with .workers }}
    - --workers={{ . }}
    {{- end }}
    - --slow-after={{ $values.issuer.throttle.slowAfter }}
    - --block-after={{ $values.issuer.throttle.blockAfter }}
    - --failure-window={{ $values.issuer.throttle.failureWindow }}
    {{- include "gatekey.tokenManagementArgs" $values | nindent 4 }}
    - --log-format={{ $values.logFormat }}
    {{- with .extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  env:
    - name: PYTHONUNBUFFERED
      value: "1"
    {{- if $values.redis.existingSecret }}
    - name: GATEKEY_STORE
      valueFrom:
        secretKeyRef:
          name: {{ $values.redis.existingSecret }}
          key: {{ $values.redis.existingSecretKey }}
    {{- end }}
    {{- with .extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: {{ .portName | default "http" }}
      containerPort: {{ .port }}
      protocol: TCP
  {{- if .probes }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ .port }}
    {{- toYaml $values.issuer.readinessProbe | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ .port }}
    {{- toYaml $values.issuer.livenessProbe | nindent 4 }}
  {{- end }}
  {{- with .resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $values.securityContext | nindent 4 }}
  volumeMounts:
    - name: gatekey-state
      mountPath: /var/lib/gatekey
    - name: gatekey-tmp
      mountPath: /tmp
{{- end }}

{{/*
The issuer as a sidecar of your proxy: a container list item for the Pod's `containers:`.
In a chart that has gatekey as a dependency (Helm 3.10+):

  containers:
    - name: my-proxy
      ...
    {{- include "gatekey.issuerSidecar" (dict "context" .Subcharts.gatekey "proxy" "orders") | nindent 4 }}
  volumes:
    {{- include "gatekey.issuerSidecarVolumes" (dict "context" .Subcharts.gatekey) | nindent 4 }}

Keys of the dict:
  context    required: the gatekey chart's context (`.Subcharts.gatekey`; `$` inside this chart)
  proxy      required: the ApiProxy the Pod's proxy serves (`--proxy ApiProxy/<proxy>`: the
             proxy /authz checks when X-Gatekey-Proxy is absent; other proxies get 403)
  port       the sidecar's port (default sidecar.port, 8181)
  issuerUrl  --issuer-url (default: the standalone issuer's, so that both accept each other's
             JWTs; they share opaque and refresh tokens only through redis.url)
  trustedProxies  CIDRs whose X-Forwarded-* are believed (default: the loopback, i.e. the
             proxy in the same Pod)
  name       container name (default gatekey)
  resources  (default sidecar.resources)
The Pod's ServiceAccount must be in issuer.rbac.extraSubjects (read-only access to the
labelled Secrets and ConfigMaps of issuer.namespaces).
*/}}
{{- define "gatekey.issuerSidecar" -}}
{{- $root := required "gatekey.issuerSidecar: pass the gatekey chart's context as \"context\" (.Subcharts.gatekey)" .context }}
{{- $proxy := required "gatekey.issuerSidecar: name the ApiProxy as \"proxy\"" .proxy }}
{{- $values := $root.Values }}
{{- include "gatekey.issuerContainer" (dict
    "context" $root
    "name" (default "gatekey" .name)
    "port" (default $values.sidecar.port .port)
    "portName" "gatekey"
    "proxies" (list $proxy)
    "issuerUrl" (default (include "gatekey.issuerUrl" $root) .issuerUrl)
    "trustedProxies" (default (list "127.0.0.1/32" "::1/128") .trustedProxies)
    "resources" (default $values.sidecar.resources .resources)
    "probes" "true"
  ) }}
{{- end }}

{{/* The volumes the issuer container mounts: its state dir and /tmp. Call with (dict "context" ...). */}}
{{- define "gatekey.issuerSidecarVolumes" -}}
- name: gatekey-state
  emptyDir:
    sizeLimit: 256Mi
- name: gatekey-tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}

{{/* Checks on combinations of values that the schema cannot express. */}}
{{- define "gatekey.validate" -}}
{{- $shared := include "gatekey.sharedStore" . }}
{{- if and .Values.issuer.enabled (gt (int .Values.issuer.replicas) 1) (not $shared) }}
{{- fail "issuer.replicas > 1 needs a shared token store: set redis.url or redis.existingSecret" }}
{{- end }}
{{- if and .Values.exampleProxy.enabled (gt (int .Values.exampleProxy.replicas) 1) (not $shared) }}
{{- fail "exampleProxy.replicas > 1 needs a shared token store: set redis.url or redis.existingSecret" }}
{{- end }}
{{- end }}

{{/*
The issuer-wide Token Management Settings as flags (a YAML list). The issuers and the
operator get the same ones: the operator refuses a Credential Metadata key equal to a
response field name the issuers use.
*/}}
{{- define "gatekey.tokenManagementArgs" -}}
{{- with .issuer.tokenManagement -}}
- --scope-on-mismatch={{ .scope.onMismatch }}
- --scope-when-not-requested={{ .scope.whenNotRequested }}
{{- if .scope.rejectWhenNoRoles }}
- --scope-reject-when-no-roles
{{- end }}
{{- range $field, $name := .response.fieldNames }}
- --response-field-name={{ $field }}={{ $name }}
{{- end }}
{{- range $field, $kept := .response.include }}
{{- if not $kept }}
- --response-omit={{ $field }}
{{- end }}
{{- end }}
- --expires-in-unit={{ .response.expiresInUnit }}
{{- end -}}
{{- end }}
