{{/* Names and labels. */}}
{{- define "canopee.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "canopee.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else if contains (include "canopee.name" .) .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "canopee.name" .) | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "canopee.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "canopee.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canopee.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "canopee.labels" -}}
helm.sh/chart: {{ include "canopee.chart" . }}
{{ include "canopee.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: canopee
{{- end -}}

{{/* The labels of one service's objects; call with (dict "root" $ "service" "ticketing"). */}}
{{- define "canopee.serviceSelectorLabels" -}}
{{ include "canopee.selectorLabels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "canopee.serviceLabels" -}}
{{ include "canopee.labels" .root }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{- define "canopee.serviceName" -}}
{{- printf "%s-%s" (include "canopee.fullname" .root) .service -}}
{{- end -}}

{{- define "canopee.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "canopee.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "canopee.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "canopee.officesConfigMap" -}}
{{- if .Values.offices.existingConfigMap -}}
{{- .Values.offices.existingConfigMap -}}
{{- else -}}
{{- printf "%s-offices" (include "canopee.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
The topics each consuming service subscribes to, in its consumer group (the group is the service's
name after CANOPEE_TOPIC_PREFIX, shared/settings.py `group`), as the services' app.py declare them.
*/}}
{{- define "canopee.consumedTopics" -}}
ticketing: [office.requests]
notifications: [office.requests, office.tenants, ticketing.sla, feedback.surveys]
feedback: [office.requests, office.tenants, feedback.ratings, notifications.outcomes]
analytics: [office.requests, office.tenants, feedback.ratings, ticketing.sla, feedback.surveys, notifications.outcomes]
{{- end -}}

{{/* A secretKeyRef environment variable from a {name, key} entry of .Values.secrets; nothing when the name is empty. */}}
{{- define "canopee.secretEnv" -}}
{{- if .ref.name -}}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .ref.name | quote }}
      key: {{ required (printf "secrets: the key of %s's Secret" .env) .ref.key | quote }}
{{- end }}
{{- end -}}

{{/* Settings every container of the chart reads. */}}
{{- define "canopee.commonEnv" -}}
- name: CANOPEE_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
{{- if .Values.mongo.urlSecret.name }}
- name: CANOPEE_MONGO_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.mongo.urlSecret.name | quote }}
      key: {{ required "mongo.urlSecret.key is required" .Values.mongo.urlSecret.key | quote }}
{{- else }}
- name: CANOPEE_MONGO_URL
  value: {{ required "mongo.url or mongo.urlSecret.name is required" .Values.mongo.url | quote }}
{{- end }}
- name: CANOPEE_TOPIC_PREFIX
  value: {{ .Values.topicPrefix | quote }}
- name: CANOPEE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}
