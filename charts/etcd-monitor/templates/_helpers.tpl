{{/* Chart name, at most 63 characters. */}}
{{- define "etcd-monitor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "etcd-monitor.fullname" -}}
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

{{/* Name of the workload: <fullname>-operator or <fullname>. */}}
{{- define "etcd-monitor.workload" -}}
{{- if eq .Values.mode "operator" }}
{{- printf "%s-operator" (include "etcd-monitor.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- include "etcd-monitor.fullname" . }}
{{- end }}
{{- end }}

{{- define "etcd-monitor.component" -}}
{{- if eq .Values.mode "operator" }}operator{{ else }}standalone{{ end }}
{{- end }}

{{- define "etcd-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "etcd-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "etcd-monitor.component" . }}
{{- end }}

{{- define "etcd-monitor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "etcd-monitor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "etcd-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "etcd-monitor.workload" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "etcd-monitor.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The rules or dashboard file with every inspection_ metric name prefixed (metricPrefix). */}}
{{- define "etcd-monitor.prefixed" -}}
{{- $text := index . 0 }}
{{- $prefix := index . 1 }}
{{- if $prefix }}
{{- regexReplaceAll "(^|[^a-zA-Z0-9_:])inspection_" $text (printf "${1}%sinspection_" $prefix) }}
{{- else }}
{{- $text }}
{{- end }}
{{- end }}

{{/* Checks that span several values (the schema checks each value). */}}
{{- define "etcd-monitor.validate" -}}
{{- if and (eq .Values.mode "operator") (gt (int .Values.replicaCount) 1) (not .Values.operator.leaderElection.enabled) (not .Values.operator.sharding.enabled) }}
{{- fail "operator.leaderElection.enabled=false with replicaCount > 1: every replica would act on its own; enable leader election or sharding, or run one replica" }}
{{- end }}
{{- if and (eq .Values.mode "standalone") .Values.operator.sharding.enabled }}
{{- fail "operator.sharding is for mode=operator; standalone daemons shard with --shard/--total-shards (standalone.extraArgs), one release per shard" }}
{{- end }}
{{- if and (eq .Values.mode "standalone") (gt (len .Values.rbac.secretNamespaces) 0) }}
{{- fail "rbac.secretNamespaces is for mode=operator; the standalone daemon reads its Secrets as mounted volumes" }}
{{- end }}
{{- if and .Values.monitoring.podMonitor.enabled .Values.monitoring.serviceMonitor.enabled }}
{{- fail "monitoring.podMonitor and monitoring.serviceMonitor are both enabled: every pod would be scraped twice; enable one" }}
{{- end }}
{{- if and .Values.monitoring.serviceMonitor.enabled (not .Values.service.enabled) }}
{{- fail "monitoring.serviceMonitor needs service.enabled=true (or use monitoring.podMonitor)" }}
{{- end }}
{{- if eq (int .Values.port) (int .Values.probePort) }}
{{- fail (printf "probePort %d is the port of port (/metrics): give the probe listener a port of its own" (int .Values.probePort)) }}
{{- end }}
{{- $names := dict }}
{{- range $i, $c := .Values.standalone.clusters }}
{{- if hasKey $names $c.name }}
{{- fail (printf "standalone.clusters[%d].name: duplicate cluster name %q" $i $c.name) }}
{{- end }}
{{- $_ := set $names $c.name true }}
{{- end }}
{{- end }}

{{/* Where a Secret of the standalone daemon is mounted. */}}
{{- define "etcd-monitor.secretDir" -}}
/etc/etcd-monitor/secrets/{{ . }}
{{- end }}

{{/* Names of every Secret the standalone clusters reference (TLS and passwords), sorted, once each. */}}
{{- define "etcd-monitor.standaloneSecrets" -}}
{{- $names := dict }}
{{- range .Values.standalone.clusters }}
{{- with .tls }}{{ $_ := set $names .secretName true }}{{ end }}
{{- with .auth }}{{ $_ := set $names .passwordSecret.name true }}{{ end }}
{{- end }}
{{- toJson (keys $names | sortAlpha) }}
{{- end }}

{{/* The standalone config file (docs/configuration.md), Secrets turned into mounted file paths. */}}
{{- define "etcd-monitor.standaloneConfig" -}}
{{- $clusters := list }}
{{- range .Values.standalone.clusters }}
{{- $c := omit . "tls" "auth" }}
{{- with .tls }}
{{- $dir := include "etcd-monitor.secretDir" .secretName }}
{{- $tls := dict }}
{{- $ca := ternary .caKey "ca.crt" (hasKey . "caKey") }}
{{- $cert := ternary .certKey "tls.crt" (hasKey . "certKey") }}
{{- $key := ternary .keyKey "tls.key" (hasKey . "keyKey") }}
{{- if $ca }}{{ $_ := set $tls "caFile" (printf "%s/%s" $dir $ca) }}{{ end }}
{{- if $cert }}{{ $_ := set $tls "certFile" (printf "%s/%s" $dir $cert) }}{{ end }}
{{- if $key }}{{ $_ := set $tls "keyFile" (printf "%s/%s" $dir $key) }}{{ end }}
{{- with .serverName }}{{ $_ := set $tls "serverName" . }}{{ end }}
{{- $_ := set $c "tls" $tls }}
{{- end }}
{{- with .auth }}
{{- $file := printf "%s/%s" (include "etcd-monitor.secretDir" .passwordSecret.name) (default "password" .passwordSecret.key) }}
{{- $_ := set $c "auth" (dict "username" .username "passwordFile" $file) }}
{{- end }}
{{- $clusters = append $clusters $c }}
{{- end }}
{{- $config := dict "clusters" $clusters }}
{{- with .Values.standalone.defaults }}{{ $_ := set $config "defaults" . }}{{ end }}
{{- with .Values.metricPrefix }}{{ $_ := set $config "metricPrefix" . }}{{ end }}
{{- toYaml $config }}
{{- end }}
