{{/*
obsyk-hub.name is the chart name, or nameOverride.
*/}}
{{- define "obsyk-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
obsyk-hub.fullname names every object of the release: fullnameOverride, else the release
name when it already contains the chart name, else "<release>-<chart>"; at most 63 characters.
*/}}
{{- define "obsyk-hub.fullname" -}}
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

{{- define "obsyk-hub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
obsyk-hub.labels go on every object.
*/}}
{{- define "obsyk-hub.labels" -}}
helm.sh/chart: {{ include "obsyk-hub.chart" . }}
{{ include "obsyk-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: obsyk
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
obsyk-hub.selectorLabels select the hub's pods; they never change across upgrades.
*/}}
{{- define "obsyk-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "obsyk-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
obsyk-hub.serviceAccountName is the ServiceAccount the hub runs as.
*/}}
{{- define "obsyk-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "obsyk-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
obsyk-hub.clusterSecretNamespace is the hub namespace of the member kubeconfig Secrets: the
release namespace unless hub.clusterSecretNamespace says otherwise.
*/}}
{{- define "obsyk-hub.clusterSecretNamespace" -}}
{{- default .Release.Namespace .Values.hub.clusterSecretNamespace }}
{{- end }}

{{/*
obsyk-hub.image is repository:tag, the tag defaulting to the chart's appVersion; a digest,
when set, pins the image instead of the tag.
*/}}
{{- define "obsyk-hub.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
obsyk-hub.seconds turns a Go duration ("10s", "1m30s", "500ms") into whole seconds, rounded
up, so that templates can compare durations; anything else renders "invalid".
*/}}
{{- define "obsyk-hub.seconds" -}}
{{- $d := toString . }}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" $d) }}
{{- print "invalid" }}
{{- else }}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" $d -1 }}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" . }}
{{- $unit := trimPrefix $n . }}
{{- $scale := get (dict "ns" 1e-9 "us" 1e-6 "µs" 1e-6 "ms" 1e-3 "s" 1.0 "m" 60.0 "h" 3600.0) $unit }}
{{- $total = addf $total (mulf (float64 $n) $scale) }}
{{- end }}
{{- ceil $total | int }}
{{- end }}
{{- end }}

{{/*
obsyk-hub.quantity renders a byte count given as a quantity string ("64Mi") unchanged and
one given as a number without the float notation YAML numbers get in templates.
*/}}
{{- define "obsyk-hub.quantity" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}
