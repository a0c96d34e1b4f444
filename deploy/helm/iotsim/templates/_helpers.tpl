{{/* Chart name, at most 63 characters. */}}
{{- define "iotsim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name, at most 52 characters (a Job's pods add a suffix). */}}
{{- define "iotsim.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "iotsim.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iotsim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "iotsim.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "iotsim.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{- define "iotsim.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "iotsim.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret the ${VAR} references read: the chart's own, or an existing one. */}}
{{- define "iotsim.secretName" -}}
{{- if .Values.secret.create }}
{{- default (printf "%s-secrets" (include "iotsim.fullname" .)) .Values.secret.name }}
{{- else }}
{{- required "secret.name: the name of an existing Secret (or set secret.create: true)" .Values.secret.name }}
{{- end }}
{{- end }}

{{/* The number of shards N, checked. */}}
{{- define "iotsim.shards" -}}
{{- $n := int .Values.shards }}
{{- if lt $n 1 }}
{{- fail (printf "shards must be an integer >= 1, got %v" .Values.shards) }}
{{- end }}
{{- $n }}
{{- end }}

{{/*
The iotsim YAML config: .Values.config, plus the http server that serves /metrics and /healthz
(listening on every address of the pod) unless the config already has an http server.
*/}}
{{- define "iotsim.config" -}}
{{- $config := deepCopy (default (dict) .Values.config) }}
{{- if .Values.metrics.enabled }}
{{- $servers := default (list) (get $config "servers") }}
{{- $hasHttp := false }}
{{- range $servers }}
{{- if eq (toString .type) "http" }}{{ $hasHttp = true }}{{ end }}
{{- end }}
{{- if not $hasHttp }}
{{- $servers = append $servers (dict "type" "http" "host" "0.0.0.0" "port" (int .Values.metrics.port)) }}
{{- end }}
{{- $_ := set $config "servers" $servers }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* The pod annotations: Prometheus scrape, config checksum, user annotations. */}}
{{- define "iotsim.podAnnotations" -}}
checksum/config: {{ include "iotsim.config" . | sha256sum }}
{{- if .Values.metrics.enabled }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.metrics.port | quote }}
prometheus.io/path: {{ .Values.metrics.path | quote }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The iotsim container. Call with (dict "root" $ "shardArgs" (list ...) "modeArgs" (list ...)).
IOTSIM_SHARD_INDEX comes from the downward API (the Job's completion index or the StatefulSet's
pod index); Kubernetes expands $(IOTSIM_SHARD_INDEX) in args.
*/}}
{{- define "iotsim.container" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
- name: iotsim
  image: "{{ $v.image.repository }}:{{ $v.image.tag | default $root.Chart.AppVersion }}"
  imagePullPolicy: {{ $v.image.pullPolicy }}
  # Relative sink paths (the file sink's ./output, SQLite's sensor_data.db) land in the data volume.
  workingDir: {{ $v.dataDir }}
  args:
    - run
    - --config
    - /config/config.yaml
    - --shard
    - "$(IOTSIM_SHARD_INDEX)/{{ include "iotsim.shards" $root }}"
    {{- range .modeArgs }}
    - {{ . | quote }}
    {{- end }}
    {{- $seed := include "iotsim.seed" $root }}
    {{- if $seed }}
    - --seed
    - {{ $seed | quote }}
    {{- end }}
    {{- if $v.workers }}
    - --workers
    - {{ $v.workers | toString | quote }}
    {{- end }}
    {{- if $v.shutdownTimeoutS }}
    - --shutdown-timeout
    - {{ $v.shutdownTimeoutS | toString | quote }}
    {{- end }}
    {{- range $v.extraArgs }}
    - {{ . | quote }}
    {{- end }}
  env:
    - name: IOTSIM_SHARD_INDEX
      valueFrom:
        fieldRef:
          fieldPath: {{ .indexField }}
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- range $var, $key := $v.secretEnv }}
    - name: {{ $var }}
      valueFrom:
        secretKeyRef:
          name: {{ include "iotsim.secretName" $root }}
          key: {{ $key }}
    {{- end }}
    {{- with $v.env }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if $v.metrics.enabled }}
  ports:
    - name: metrics
      containerPort: {{ $v.metrics.port }}
      protocol: TCP
  {{- end }}
  {{- with .probes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  resources:
    {{- toYaml $v.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.securityContext | nindent 4 }}
  volumeMounts:
    - name: config
      mountPath: /config
      readOnly: true
    - name: data
      mountPath: {{ $v.dataDir }}
    - name: tmp
      mountPath: /tmp
    {{- with $v.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{/* Pod-level fields shared by the Job and the StatefulSet. */}}
{{- define "iotsim.podSpecCommon" -}}
{{- $v := .Values -}}
serviceAccountName: {{ include "iotsim.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The seed every pod gets: `seed`, else none when the config's simulator.seed is set, else one
derived from the release (namespace/name), so that the shards of a release make one run and a
retried or upgraded pod the same data (a random seed per pod would give each shard other values).
*/}}
{{- define "iotsim.seed" -}}
{{- $v := .Values -}}
{{- if not (kindIs "invalid" $v.seed) -}}
{{- $v.seed | toString -}}
{{- else if not (hasKey ((get $v.config "simulator") | default dict) "seed") -}}
{{- mod (adler32sum (printf "%s/%s" .Release.Namespace .Release.Name) | int64) 2147483648 -}}
{{- end -}}
{{- end }}

{{/*
A backfill time for --start/--end, made absolute when the chart is rendered (dict "value" v
"now" t): `now` and relative times (-7d, -90m) would otherwise be read by each pod when it starts,
and pods start at different times (a retried one much later), so the shards would not cover one
range and a retry would not repeat its first attempt. Absolute values pass through (epoch
seconds as whole seconds).
*/}}
{{- define "iotsim.timePoint" -}}
{{- if or (kindIs "float64" .value) (kindIs "int64" .value) (kindIs "int" .value) -}}
{{- .value | int64 -}}
{{- else -}}
{{- $s := toString .value | trim -}}
{{- $iso := "2006-01-02T15:04:05Z" -}}
{{- if eq $s "now" -}}
{{- dateInZone $iso .now "UTC" -}}
{{- else if regexMatch "^-[0-9]+[smhdSMHD]$" $s -}}
{{- $n := regexFind "[0-9]+" $s | int64 -}}
{{- $unit := get (dict "s" 1 "m" 60 "h" 3600 "d" 86400) (regexFind "[smhdSMHD]$" $s | lower) -}}
{{- dateInZone $iso (dateModify (printf "-%ds" (mul $n $unit)) .now) "UTC" -}}
{{- else if hasPrefix "-" $s -}}
{{- fail (printf "backfill time %q: give ISO 8601, epoch seconds, now, or -<whole number><s|m|h|d> like -7d" $s) -}}
{{- else -}}
{{- $s -}}
{{- end -}}
{{- end -}}
{{- end }}
