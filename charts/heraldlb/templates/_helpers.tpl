{{/*
Names are fixed, not prefixed with the release: the Leases (heraldlb-controller,
heraldlb-speaker-<node>), the cluster-wide RBAC and the CRDs exist once per cluster, so one
release of heraldlb per cluster is what the programs assume.
*/}}

{{- define "heraldlb.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "heraldlb.labels" -}}
helm.sh/chart: {{ include "heraldlb.chart" . }}
app.kubernetes.io/name: heraldlb
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: heraldlb
{{- end }}

{{/* Selector labels of one component: call with (dict "root" $ "component" "controller"). */}}
{{- define "heraldlb.selectorLabels" -}}
app.kubernetes.io/name: heraldlb
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The one image both programs run from; a digest, when given, pins it over the tag. */}}
{{- define "heraldlb.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{ $img.repository }}:{{ $img.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{- define "heraldlb.heartbeatSecretName" -}}
{{ .Values.speaker.heartbeat.existingSecret | default "heraldlb-heartbeat" }}
{{- end }}

{{/*
The speaker needs hostNetwork and NET_RAW, which only the `privileged` Pod Security level
allows. A namespace that enforces a stricter level would admit the DaemonSet but reject every
one of its Pods, silently from helm's point of view: refuse the install instead, with the fix.
*/}}
{{- define "heraldlb.checkPodSecurity" -}}
{{- if .Values.podSecurity.check }}
{{- $ns := lookup "v1" "Namespace" "" .Release.Namespace }}
{{- $level := dig "metadata" "labels" "pod-security.kubernetes.io/enforce" "" ($ns | default dict) }}
{{- if and $level (ne $level "privileged") }}
{{- fail (printf "namespace %q enforces Pod Security level %q, which rejects the speaker (it needs hostNetwork and NET_RAW: level privileged). Run: kubectl label namespace %s pod-security.kubernetes.io/enforce=privileged --overwrite (or set podSecurity.check=false)" .Release.Namespace $level .Release.Namespace) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Resources, nodeSelector, tolerations and the like, only when set. Call with (dict "v" .Values.controller). */}}
{{- define "heraldlb.podPlacement" -}}
{{- with .v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
