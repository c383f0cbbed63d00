{{/* vim: set filetype=mustache: */}}

{{/* The four application services, in start-up order (upstreams first). */}}
{{- define "journal.services" -}}
auth sync attachments gateway
{{- end -}}

{{- define "journal.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "journal.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of one component's objects: <fullname>-<component>. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "journal.componentName" -}}
{{- printf "%s-%s" (include "journal.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "journal.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. Takes the root context. */}}
{{- define "journal.labels" -}}
helm.sh/chart: {{ include "journal.chart" . }}
app.kubernetes.io/name: {{ include "journal.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: journal
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of one component's objects. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "journal.componentLabels" -}}
{{ include "journal.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "gateway"). */}}
{{- define "journal.selectorLabels" -}}
app.kubernetes.io/name: {{ include "journal.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* commonAnnotations as a block, or nothing. Takes the root context. */}}
{{- define "journal.annotations" -}}
{{- with .Values.commonAnnotations -}}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end -}}
{{- end -}}

{{- define "journal.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "journal.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Image of one application service: <registry>/<owner>/<repository>, by default the published
ghcr.io/<owner>/journal-<service>:<appVersion>. Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "journal.image" -}}
{{- $values := index .root.Values .component -}}
{{- $registry := coalesce .root.Values.global.imageRegistry .root.Values.image.registry -}}
{{- $repository := $values.image.repository -}}
{{- with .root.Values.image.owner }}{{ $repository = printf "%s/%s" . $repository }}{{ end -}}
{{- if $registry }}{{ $repository = printf "%s/%s" $registry $repository }}{{ end -}}
{{- if $values.image.digest -}}
{{- printf "%s@%s" $repository $values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (toString (coalesce $values.image.tag .root.Values.image.tag .root.Chart.AppVersion)) -}}
{{- end -}}
{{- end -}}

{{/* Image of a built-in dependency (mongodb, redis). Call with (dict "root" $ "image" .Values.mongodb.image). */}}
{{- define "journal.dependencyImage" -}}
{{- $registry := coalesce .root.Values.global.imageRegistry .image.registry -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .image.repository (toString .image.tag) -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (toString .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "journal.imagePullSecrets" -}}
{{- with .Values.global.imagePullSecrets -}}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "map" . }}{{ .name }}{{ else }}{{ . }}{{ end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* The Secret every secret variable comes from: existingSecret or the chart's own. */}}
{{- define "journal.secretName" -}}
{{- default (printf "%s-secrets" (include "journal.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{- define "journal.configMapName" -}}
{{- printf "%s-config" (include "journal.fullname" .) -}}
{{- end -}}

{{/* In-cluster base URL of one service. Call with (dict "root" $ "component" "auth"). */}}
{{- define "journal.serviceUrl" -}}
{{- $values := index .root.Values .component -}}
{{- printf "http://%s:%v" (include "journal.componentName" .) $values.service.port -}}
{{- end -}}

{{/* The URLs of the built-in MongoDB and Redis (with their passwords; these go into the Secret only). */}}
{{- define "journal.mongodbUrl" -}}
{{- if .Values.mongodb.enabled -}}
{{- printf "mongodb://%s:%s@%s:27017/?authSource=admin" (urlquery .Values.mongodb.auth.rootUser) (urlquery .Values.mongodb.auth.rootPassword) (include "journal.componentName" (dict "root" . "component" "mongodb")) -}}
{{- else -}}
{{- .Values.externalMongodb.url -}}
{{- end -}}
{{- end -}}

{{/* How the services reach Redis: url (one server, REDIS_URL), sentinel or cluster. */}}
{{- define "journal.redisMode" -}}
{{- if .Values.externalRedis.sentinel.hosts -}}sentinel
{{- else if .Values.externalRedis.cluster.nodes -}}cluster
{{- else -}}url
{{- end -}}
{{- end -}}

{{- define "journal.redisUrl" -}}
{{- if .Values.redis.enabled -}}
{{- printf "redis://:%s@%s:6379/0" (urlquery .Values.redis.auth.password) (include "journal.componentName" (dict "root" . "component" "redis")) -}}
{{- else -}}
{{- .Values.externalRedis.url -}}
{{- end -}}
{{- end -}}

{{/*
Stops the render with one clear message for each setting that is missing or contradictory.
Included by every template that depends on them (once is enough, but the Secret may be absent).
*/}}
{{- define "journal.validateValues" -}}
{{- $errors := list -}}
{{- if not .Values.existingSecret -}}
{{- if and (not .Values.mongodb.enabled) (not .Values.externalMongodb.url) -}}
{{- $errors = append $errors "MongoDB: set externalMongodb.url (a mongodb:// URL), or existingSecret (a Secret with the key mongodb-url), or mongodb.enabled=true for the built-in single-replica MongoDB" -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.externalRedis.url) (eq (include "journal.redisMode" .) "url") -}}
{{- $errors = append $errors "Redis: set externalRedis.url (a redis:// URL), externalRedis.sentinel.hosts (Redis Sentinel), externalRedis.cluster.nodes (Redis Cluster), or existingSecret (a Secret with the key redis-url), or redis.enabled=true for the built-in single-replica Redis" -}}
{{- end -}}
{{- if and .Values.mongodb.enabled .Values.externalMongodb.url -}}
{{- $errors = append $errors "MongoDB: set either externalMongodb.url or mongodb.enabled, not both" -}}
{{- end -}}
{{- if and .Values.redis.enabled .Values.externalRedis.url -}}
{{- $errors = append $errors "Redis: set either externalRedis.url or redis.enabled, not both" -}}
{{- end -}}
{{- if and .Values.redis.enabled (ne (include "journal.redisMode" .) "url") -}}
{{- $errors = append $errors "Redis: set either externalRedis.sentinel/cluster or redis.enabled, not both" -}}
{{- end -}}
{{- if and .Values.mongodb.enabled (not .Values.mongodb.auth.rootPassword) -}}
{{- $errors = append $errors "MongoDB: mongodb.enabled needs mongodb.auth.rootPassword" -}}
{{- end -}}
{{- if and .Values.redis.enabled (not .Values.redis.auth.password) -}}
{{- $errors = append $errors "Redis: redis.enabled needs redis.auth.password" -}}
{{- end -}}
{{- if and (eq .Values.config.nodeEnv "production") (not .Values.jwt.privateKey) -}}
{{- $errors = append $errors "JWT: set jwt.privateKey (make one with `npx tsx scripts/gen-keys.ts`) or existingSecret (a Secret with the key jwt-private-key); auth refuses to start in production without it" -}}
{{- end -}}
{{- if and .Values.qiniu.accessKey (not .Values.qiniu.secretKey) -}}
{{- $errors = append $errors "Qiniu: qiniu.accessKey needs qiniu.secretKey" -}}
{{- end -}}
{{- end -}}
{{- $redisKinds := 0 -}}
{{- if .Values.externalRedis.url }}{{ $redisKinds = add1 $redisKinds }}{{ end -}}
{{- if .Values.externalRedis.sentinel.hosts }}{{ $redisKinds = add1 $redisKinds }}{{ end -}}
{{- if .Values.externalRedis.cluster.nodes }}{{ $redisKinds = add1 $redisKinds }}{{ end -}}
{{- if gt $redisKinds 1 -}}
{{- $errors = append $errors "Redis: set exactly one of externalRedis.url, externalRedis.sentinel.hosts and externalRedis.cluster.nodes" -}}
{{- end -}}
{{- if and (not .Values.jwt.publicKeys) (not .Values.jwt.jwksFromAuth) (not .Values.existingSecret) -}}
{{- $errors = append $errors "JWT: set jwt.publicKeys or jwt.jwksFromAuth=true, or the services cannot verify access tokens" -}}
{{- end -}}
{{- if $errors -}}
{{- fail (printf "\n\nVALUES ERROR (journal chart):\n  - %s\n" (join "\n  - " $errors)) -}}
{{- end -}}
{{- end -}}

{{/*
A value as an environment string. Numbers from YAML are float64 in Helm, and toString would
write 209715200 as "2.097152e+08": whole numbers are written as integers.
*/}}
{{- define "journal.envString" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}
