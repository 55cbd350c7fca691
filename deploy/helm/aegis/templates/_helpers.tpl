{{- define "aegis.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "aegis.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "aegis.labels" -}}
app.kubernetes.io/name: {{ include "aegis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "aegis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aegis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "aegis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "aegis.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "aegis.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "aegis.fullname" . -}}
{{- end -}}
{{- end -}}

{{- /* The Kubernetes users and groups the identity map names, each once, sorted: a JSON object {users, groups}.
Impersonation is granted on exactly these (an empty resourceNames would grant every name, so callers check). */}}
{{- define "aegis.identityNames" -}}
{{- $users := list -}}
{{- $groups := list -}}
{{- range $key, $identity := (.Values.identityMap.users | default dict) -}}
{{- if not (and (kindIs "map" $identity) $identity.user) -}}{{- fail (printf "identityMap.users.%s needs a Kubernetes user: {user: NAME, groups: [...]}" $key) -}}{{- end -}}
{{- $users = append $users (toString $identity.user) -}}
{{- range ($identity.groups | default list) -}}{{- $groups = append $groups (toString .) -}}{{- end -}}
{{- end -}}
{{- range $slackGroup, $added := (.Values.identityMap.groups | default dict) -}}
{{- if not (kindIs "slice" $added) -}}{{- fail (printf "identityMap.groups.%s must be a list of Kubernetes groups" $slackGroup) -}}{{- end -}}
{{- range $added -}}{{- $groups = append $groups (toString .) -}}{{- end -}}
{{- end -}}
{{- dict "users" ($users | uniq | sortAlpha) "groups" ($groups | uniq | sortAlpha) | toJson -}}
{{- end -}}
