{{/* Labels every object of the chart carries. */}}
{{- define "ebb.labels" -}}
app.kubernetes.io/name: ebb-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The operator pods' selector. */}}
{{- define "ebb.selectorLabels" -}}
app.kubernetes.io/name: ebb-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ebb.serviceAccountName" -}}
{{- default "ebb-operator" .Values.serviceAccount.name }}
{{- end }}

{{- define "ebb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Names of fixed objects: one Ebb per cluster (the APIService is a singleton). */}}
{{- define "ebb.adapterService" -}}ebb-metrics-adapter{{- end }}
{{- define "ebb.webhookService" -}}ebb-webhook{{- end }}
{{- define "ebb.apiServiceName" -}}v1beta1.external.metrics.k8s.io{{- end }}
{{- define "ebb.tlsSecret" -}}ebb-operator-tls{{- end }}

{{/* Whether the operator needs a mounted certificate folder. */}}
{{- define "ebb.mountCerts" -}}
{{- if .Values.certManager.enabled }}true{{ end }}
{{- end }}
