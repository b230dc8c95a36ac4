{{/* The objects' name: the release name, with "gatehouse" unless it already says so. */}}
{{- define "gatehouse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The selector labels: stable across upgrades (a Deployment's selector cannot change). */}}
{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Every object's labels. No managed-by or chart label: deploy/kubernetes/ is rendered from this chart for kubectl. */}}
{{- define "gatehouse.labels" -}}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ include "gatehouse.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/part-of: gatehouse
{{- end -}}

{{- define "gatehouse.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "gatehouse.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (include "gatehouse.imageTag" .) -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "gatehouse.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/*
Refuses what the schema cannot say as plainly (it checks too: this is the
message a person reads when both fail).
*/}}
{{- define "gatehouse.validate" -}}
{{- if and (not .Values.database.postgres.enabled) (gt (int .Values.replicaCount) 1) -}}
{{- fail "replicaCount > 1 needs PostgreSQL (database.postgres.enabled=true): SQLite is one file written by one process" -}}
{{- end -}}
{{- if .Values.database.postgres.enabled -}}
{{- if not .Values.database.postgres.existingSecret -}}
{{- fail "database.postgres.existingSecret: name the Secret holding the PostgreSQL URL" -}}
{{- end -}}
{{- if not .Values.encryptionKey.existingSecret -}}
{{- fail "encryptionKey.existingSecret: PostgreSQL replicas must share the encryption key; create a Secret with it (head -c 32 /dev/urandom | base64) and name it here" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The environment shared by the server and the migration Job: the database and the configuration file. */}}
{{- define "gatehouse.dbEnv" -}}
- name: GATEHOUSE_CONFIG
  value: /etc/gatehouse/config.yaml
{{- if .Values.database.postgres.enabled }}
- name: GATEHOUSE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.postgres.existingSecret }}
      key: {{ .Values.database.postgres.existingSecretKey }}
{{- end }}
{{- end -}}

{{/* The container security context of every container: nothing to escalate to. */}}
{{- define "gatehouse.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The pod security context: the image's user, the volume group-owned by it. */}}
{{- define "gatehouse.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}
