{{/* The chart's name, or nameOverride. */}}
{{- define "iadvize-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: release-chart, or the release alone when it holds the chart's name. */}}
{{- define "iadvize-exporter.fullname" -}}
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

{{- define "iadvize-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "iadvize-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "iadvize-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "iadvize-exporter.labels" -}}
helm.sh/chart: {{ include "iadvize-exporter.chart" . }}
{{ include "iadvize-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: iadvize-exporter
{{- end }}

{{- define "iadvize-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "iadvize-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the password: the existing one, or the one the chart creates. */}}
{{- define "iadvize-exporter.secretName" -}}
{{- default (include "iadvize-exporter.fullname" .) .Values.iadvize.existingSecret }}
{{- end }}

{{- define "iadvize-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The PVC for the state file: the existing one, or the one the chart creates. */}}
{{- define "iadvize-exporter.claimName" -}}
{{- default (include "iadvize-exporter.fullname" .) .Values.persistence.existingClaim }}
{{- end }}
