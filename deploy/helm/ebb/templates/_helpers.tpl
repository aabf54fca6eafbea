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

{{/*
The adapter Ebb delegates the external metrics no ScaledObject serves to
(adapter.delegate; docs/migrating-from-keda.md), as JSON: {} for none, else
{"service": {"namespace", "name", "port"}, "caBundle": base64 PEM,
"insecureSkipTLSVerify": bool, "previous": the APIService Ebb took over, to
restore on uninstall: {"labels", "annotations", "spec"}}.
Discovered with lookup (empty under helm template): the APIService when it
points at another Service (at install, or an upgrade over an adapter
installed since), else what the ConfigMap ebb-metrics-delegate recorded.
*/}}
{{- define "ebb.delegate" -}}
{{- $d := dict -}}
{{- $v := .Values.adapter.delegate -}}
{{- if and .Values.adapter.enabled .Values.adapter.apiService.create -}}
{{- $prev := dict -}}
{{- if $v.discover -}}
{{- $api := lookup "apiregistration.k8s.io/v1" "APIService" "" (include "ebb.apiServiceName" .) -}}
{{- $svc := dig "spec" "service" dict $api -}}
{{- if and $svc (not (and (eq (get $svc "name") (include "ebb.adapterService" .)) (eq (get $svc "namespace") .Release.Namespace))) -}}
{{- $prev = dict "labels" (dig "metadata" "labels" dict $api) "annotations" (dig "metadata" "annotations" dict $api) "spec" (get $api "spec") -}}
{{- else -}}
{{- with dig "data" "apiservice.json" "" (lookup "v1" "ConfigMap" .Release.Namespace "ebb-metrics-delegate") -}}
{{- $prev = fromJson . -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.service -}}
{{- $_ := set $d "service" (dict "namespace" $v.service.namespace "name" $v.service.name "port" (int (default 443 $v.service.port))) -}}
{{- $_ := set $d "caBundle" (ternary "" (b64enc $v.caBundle) (empty $v.caBundle)) -}}
{{- $_ := set $d "insecureSkipTLSVerify" $v.insecureSkipTLSVerify -}}
{{- else if $prev.spec -}}
{{- $s := $prev.spec.service -}}
{{- $_ := set $d "service" (dict "namespace" $s.namespace "name" $s.name "port" (int (default 443 $s.port))) -}}
{{- $_ := set $d "caBundle" (default "" $prev.spec.caBundle) -}}
{{- $_ := set $d "insecureSkipTLSVerify" (default false $prev.spec.insecureSkipTLSVerify) -}}
{{- end -}}
{{- if and $d.service (not $d.caBundle) (not $d.insecureSkipTLSVerify) -}}
{{- fail (printf "adapter.delegate: nothing verifies the adapter at %s/%s: set adapter.delegate.caBundle (the PEM CA of its serving certificate) or adapter.delegate.insecureSkipTLSVerify" $d.service.namespace $d.service.name) -}}
{{- end -}}
{{- if and $d.service $prev.spec -}}
{{- $_ := set $d "previous" $prev -}}
{{- end -}}
{{- end -}}
{{- toJson $d -}}
{{- end -}}
