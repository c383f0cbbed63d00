{{/*
The environment of one service container. Every name here is a variable that service's config
schema reads (services/<name>/src/config.ts and shared/src/config.ts); tests/deploy checks it.
Call with (dict "root" $ "component" "gateway").
*/}}
{{- define "journal.env" -}}
{{- $root := .root -}}
{{- $c := .component -}}
{{- $values := index $root.Values $c -}}
{{- $secret := include "journal.secretName" $root -}}
{{- $configMap := include "journal.configMapName" $root -}}
{{- $external := not (empty $root.Values.existingSecret) -}}
- name: PORT
  value: {{ include "journal.envString" $values.containerPort | quote }}
- name: METRICS_PORT
  value: {{ include "journal.envString" $values.metricsPort | quote }}
- name: LOG_LEVEL
  value: {{ $values.logLevel | quote }}
{{- /* The V8 heap sized to half the container's memory limit: the rest is buffers, code and
       the undecoded MongoDB batches (docs/scaling.md, "Memory of a sync process"). */}}
{{- $memory := toString (dig "limits" "memory" "" ($values.resources | default dict)) }}
{{- if hasSuffix "Mi" $memory }}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" (div (atoi (trimSuffix "Mi" $memory)) 2) | quote }}
{{- else if hasSuffix "Gi" $memory }}
- name: NODE_OPTIONS
  value: {{ printf "--max-old-space-size=%d" (div (mul (atoi (trimSuffix "Gi" $memory)) 1024) 2) | quote }}
{{- end }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ include "journal.envString" $values.shutdownTimeoutMs | quote }}
{{- range $name := list "NODE_ENV" "REDIS_KEY_PREFIX" "JWT_ISSUER" "JWT_AUDIENCE" }}
- name: {{ $name }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $name }}
{{- end }}
{{- $redisMode := include "journal.redisMode" $root }}
{{- if eq $redisMode "url" }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.redisUrl }}
{{- else }}
{{- if eq $redisMode "sentinel" }}
{{- range $name := list "REDIS_SENTINELS" "REDIS_SENTINEL_NAME" }}
- name: {{ $name }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $name }}
{{- end }}
{{- if or $root.Values.externalRedis.sentinelPassword $external }}
- name: REDIS_SENTINEL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.redisSentinelPassword }}
      optional: {{ $external }}
{{- end }}
{{- else }}
- name: REDIS_CLUSTER_NODES
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: REDIS_CLUSTER_NODES
{{- end }}
{{- if or $root.Values.externalRedis.password $external }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.redisPassword }}
      optional: {{ $external }}
{{- end }}
{{- end }}
{{- if or $root.Values.jwt.publicKeys $external }}
- name: JWT_PUBLIC_KEYS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.jwtPublicKeys }}
      optional: {{ $external }}
{{- end }}
{{- if $root.Values.jwt.jwksFromAuth }}
- name: JWT_JWKS_URL
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: JWT_JWKS_URL
{{- end }}
{{- if ne $c "gateway" }}
- name: MONGODB_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.mongodbUrl }}
- name: MONGODB_DB_NAME
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: MONGODB_DB_NAME
{{- end }}
{{- if eq $c "gateway" }}
{{- range $upstream := list "auth" "sync" "attachments" }}
- name: {{ upper $upstream }}_URL
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ upper $upstream }}_URL
{{- end }}
{{- end }}
{{- range $key, $name := dict "entries" "QUOTA_ENTRIES" "entryBytes" "QUOTA_ENTRY_BYTES" "attachments" "QUOTA_ATTACHMENTS" "attachmentBytes" "QUOTA_ATTACHMENT_BYTES" }}
{{- $value := index $root.Values.config.quotas $key }}
{{- if and (eq $c (ternary "sync" "attachments" (hasPrefix "entr" $key))) (or $value (eq (toString $value) "0")) }}
- name: {{ $name }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $name }}
{{- end }}
{{- end }}
{{- if and (has $c (list "gateway" "attachments")) $root.Values.config.attachmentsMaxBytes }}
- name: ATTACHMENTS_MAX_BYTES
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: ATTACHMENTS_MAX_BYTES
{{- end }}
{{- if eq $c "auth" }}
{{- if or $root.Values.jwt.privateKey $external }}
- name: JWT_PRIVATE_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.jwtPrivateKey }}
{{- end }}
{{- if $root.Values.jwt.keyId }}
- name: JWT_KEY_ID
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: JWT_KEY_ID
{{- end }}
{{- end }}
{{- if $root.Values.jwt.accessTtlSeconds }}
{{- /* Every service: auth issues tokens for this long, the others refuse longer ones. */}}
- name: JWT_ACCESS_TTL_SECONDS
  value: {{ include "journal.envString" $root.Values.jwt.accessTtlSeconds | quote }}
{{- end }}
{{- /*
Proxies in front: the services have exactly one, the gateway (which overwrites
X-Forwarded-For with the one address it determined); the gateway has the Ingress controller
when the Ingress is on, the web app's nginx when it is on (it forwards exactly the client's
address), else none (gateway.trustProxyHops overrides, e.g. behind a load balancer that sets
X-Forwarded-For).
*/}}
- name: TRUST_PROXY_HOPS
{{- if eq $c "gateway" }}
  {{- $hops := ternary 1 0 (or $root.Values.gateway.ingress.enabled $root.Values.web.enabled) }}
  {{- if not (kindIs "string" $root.Values.gateway.trustProxyHops) }}{{ $hops = $root.Values.gateway.trustProxyHops }}{{ end }}
  value: {{ include "journal.envString" $hops | quote }}
{{- else }}
  value: "1"
{{- end }}
{{- if eq $c "attachments" }}
{{- if or $root.Values.qiniu.accessKey $external }}
- name: QINIU_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.qiniuAccessKey }}
      optional: {{ $external }}
- name: QINIU_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $root.Values.secretKeys.qiniuSecretKey }}
      optional: {{ $external }}
{{- end }}
{{- if or $root.Values.qiniu.downloadBaseUrl $root.Values.qiniu.downloadDomain }}
- name: QINIU_DOWNLOAD_BASE_URL
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: QINIU_DOWNLOAD_BASE_URL
{{- end }}
{{- range $key, $name := dict "bucketName" "QINIU_BUCKET_NAME" "uploadDomain" "QINIU_UPLOAD_DOMAIN" "callbackUrl" "QINIU_CALLBACK_URL" "tokenTtlSeconds" "QINIU_TOKEN_TTL_SECONDS" }}
{{- if index $root.Values.qiniu $key }}
- name: {{ $name }}
  valueFrom:
    configMapKeyRef:
      name: {{ $configMap }}
      key: {{ $name }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $value := $values.config }}
- name: {{ $name }}
  value: {{ include "journal.envString" $value | quote }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}
