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
ticketing: [office.requests, office.tenants]
notifications: [office.requests, office.tenants, ticketing.sla, feedback.surveys]
feedback: [office.requests, office.tenants, feedback.ratings, notifications.outcomes]
analytics: [office.requests, office.tenants, feedback.ratings, ticketing.sla, feedback.surveys, notifications.outcomes]
{{- end -}}

{{/*
The secrets one service reads, as a YAML list of {env, name, key, file}; call with
(dict "root" $ "service" "ticketing"). `file`: the setting may be read from <env>_FILE.
*/}}
{{- define "canopee.secretRefs" -}}
{{- $v := .root.Values }}
{{- $refs := list }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
{{- $_ := required "kafka.sasl.secret: the Secret holding the SASL user and password is required with SASL_*" $v.kafka.sasl.secret }}
{{- $refs = append $refs (dict "env" "CANOPEE_KAFKA_SASL_USERNAME" "name" $v.kafka.sasl.secret "key" $v.kafka.sasl.usernameKey "file" false) }}
{{- $refs = append $refs (dict "env" "CANOPEE_KAFKA_SASL_PASSWORD" "name" $v.kafka.sasl.secret "key" $v.kafka.sasl.passwordKey "file" true) }}
{{- end }}
{{- if and .service $v.mongo.urlSecret.name }}
{{- $refs = append $refs (dict "env" "CANOPEE_MONGO_URL" "name" $v.mongo.urlSecret.name "key" $v.mongo.urlSecret.key "file" false) }}
{{- end }}
{{- if and .service (ne .service "gateway") }}
{{- $_ := required "secrets.adminToken.name: the Secret holding CANOPEE_ADMIN_TOKEN is required" $v.secrets.adminToken.name }}
{{- $refs = append $refs (dict "env" "CANOPEE_ADMIN_TOKEN" "name" $v.secrets.adminToken.name "key" $v.secrets.adminToken.key "file" true) }}
{{- end }}
{{- if eq .service "feedback" }}
{{- $_ := required "secrets.feedbackFormSecret.name: the Secret holding CANOPEE_FEEDBACK_FORM_SECRET is required" $v.secrets.feedbackFormSecret.name }}
{{- $refs = append $refs (dict "env" "CANOPEE_FEEDBACK_FORM_SECRET" "name" $v.secrets.feedbackFormSecret.name "key" $v.secrets.feedbackFormSecret.key "file" true) }}
{{- end }}
{{- if and (has .service (list "ticketing" "notifications")) $v.secrets.trackerSecret.name }}
{{- $refs = append $refs (dict "env" "CANOPEE_TRACKER_SECRET" "name" $v.secrets.trackerSecret.name "key" $v.secrets.trackerSecret.key "file" true) }}
{{- end }}
{{- if and (eq .service "analytics") $v.secrets.analyticsFeedbackToken.name }}
{{- $refs = append $refs (dict "env" "CANOPEE_ANALYTICS_FEEDBACK_TOKEN" "name" $v.secrets.analyticsFeedbackToken.name "key" $v.secrets.analyticsFeedbackToken.key "file" true) }}
{{- end }}
{{- if eq .service "notifications" }}
{{- range $env, $ref := dict "CANOPEE_NOTIFICATIONS_WEBHOOK_SECRET" $v.secrets.notificationsWebhookSecret "CANOPEE_NOTIFICATIONS_SMS_TOKEN" $v.secrets.notificationsSmsToken "CANOPEE_NOTIFICATIONS_SMTP_PASSWORD" $v.secrets.notificationsSmtpPassword }}
{{- if $ref.name }}
{{- $refs = append $refs (dict "env" $env "name" $ref.name "key" $ref.key "file" true) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $refs }}
{{- $_ := required (printf "secrets: the key of %s in Secret %s is required" .env .name) .key }}
{{- end }}
{{- toYaml $refs }}
{{- end -}}

{{/* Environment of the secrets in (dict "root" $ "refs" list): secretKeyRef, or <env>_FILE with secretFiles. */}}
{{- define "canopee.secretEnv" -}}
{{- range .refs }}
{{- if and $.root.Values.secretFiles .file }}
- name: {{ .env }}_FILE
  value: /run/secrets/canopee/{{ .env }}
{{- else }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .name | quote }}
      key: {{ .key | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Volumes of the secrets read from files and of the Kafka TLS material; (dict "root" $ "refs" list). */}}
{{- define "canopee.secretVolumes" -}}
{{- $files := list }}
{{- if .root.Values.secretFiles }}
{{- range .refs }}{{ if .file }}{{ $files = append $files . }}{{ end }}{{ end }}
{{- end }}
{{- if $files }}
- name: secrets
  projected:
    defaultMode: 0440
    sources:
      {{- range $files }}
      - secret:
          name: {{ .name | quote }}
          items:
            - key: {{ .key | quote }}
              path: {{ .env }}
      {{- end }}
{{- end }}
{{- with .root.Values.kafka.tls }}
{{- if .secret }}
- name: kafka-tls
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0440
    items:
      - key: {{ required "kafka.tls.caKey is required" .caKey | quote }}
        path: ca.crt
      {{- if or .certKey .keyKey }}
      - key: {{ required "kafka.tls.certKey is required with kafka.tls.keyKey" .certKey | quote }}
        path: tls.crt
      - key: {{ required "kafka.tls.keyKey is required with kafka.tls.certKey" .keyKey | quote }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "canopee.secretMounts" -}}
{{- $files := false }}
{{- if .root.Values.secretFiles }}{{ range .refs }}{{ if .file }}{{ $files = true }}{{ end }}{{ end }}{{ end }}
{{- if $files }}
- name: secrets
  mountPath: /run/secrets/canopee
  readOnly: true
{{- end }}
{{- if .root.Values.kafka.tls.secret }}
- name: kafka-tls
  mountPath: /etc/canopee/kafka-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Settings every container of the chart reads (secrets apart). */}}
{{- define "canopee.commonEnv" -}}
- name: CANOPEE_KAFKA_BOOTSTRAP
  value: {{ required "kafka.bootstrap is required" .Values.kafka.bootstrap | quote }}
- name: CANOPEE_KAFKA_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
- name: CANOPEE_KAFKA_SASL_MECHANISM
  value: {{ .Values.kafka.sasl.mechanism | quote }}
{{- end }}
{{- if .Values.kafka.tls.secret }}
- name: CANOPEE_KAFKA_CA_FILE
  value: /etc/canopee/kafka-tls/ca.crt
{{- if .Values.kafka.tls.certKey }}
- name: CANOPEE_KAFKA_CERT_FILE
  value: /etc/canopee/kafka-tls/tls.crt
- name: CANOPEE_KAFKA_KEY_FILE
  value: /etc/canopee/kafka-tls/tls.key
{{- end }}
{{- end }}
{{- if not .Values.mongo.urlSecret.name }}
- name: CANOPEE_MONGO_URL
  value: {{ required "mongo.url or mongo.urlSecret.name is required" .Values.mongo.url | quote }}
{{- end }}
- name: CANOPEE_TOPIC_PREFIX
  value: {{ .Values.topicPrefix | quote }}
- name: CANOPEE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}
