{{/*
The objects of one application service. Each templates/<service>/<kind>.yaml calls one of these
with (dict "root" $ "component" "<service>"), so the four services cannot drift apart.
*/}}

{{- define "journal.probe" -}}
{{- $probe := .probe -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ $probe.initialDelaySeconds }}
periodSeconds: {{ $probe.periodSeconds }}
timeoutSeconds: {{ $probe.timeoutSeconds }}
failureThreshold: {{ $probe.failureThreshold }}
successThreshold: {{ $probe.successThreshold }}
{{- end -}}

{{- define "journal.deployment" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "journal.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "journal.componentLabels" . | nindent 4 }}
  {{- with (include "journal.annotations" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if not $values.autoscaling.enabled }}
  replicas: {{ $values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "journal.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "journal.componentLabels" . | nindent 8 }}
        {{- with $values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # A new rollout when the configuration or the chart's Secret changes.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $values.metricsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "journal.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with (include "journal.imagePullSecrets" $root) }}{{ . | nindent 6 }}{{ end }}
      {{- with $values.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
      {{- with $values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      affinity:
        {{- if $values.affinity }}
        {{- toYaml $values.affinity | nindent 8 }}
        {{- else }}
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 100
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector:
                  matchLabels:
                    {{- include "journal.selectorLabels" . | nindent 20 }}
        {{- end }}
      {{- with $values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "journal.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          securityContext:
            {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          ports:
            - name: http
              containerPort: {{ $values.containerPort }}
              protocol: TCP
            # GET /metrics only (METRICS_PORT); the public port answers 404 for it.
            - name: metrics
              containerPort: {{ $values.metricsPort }}
              protocol: TCP
          env:
            {{- include "journal.env" . | nindent 12 }}
          {{- if $values.startupProbe.enabled }}
          startupProbe:
            {{- include "journal.probe" (dict "probe" $values.startupProbe "path" "/health") | nindent 12 }}
          {{- end }}
          {{- if $values.livenessProbe.enabled }}
          livenessProbe:
            {{- include "journal.probe" (dict "probe" $values.livenessProbe "path" "/health") | nindent 12 }}
          {{- end }}
          {{- if $values.readinessProbe.enabled }}
          readinessProbe:
            {{- include "journal.probe" (dict "probe" $values.readinessProbe "path" "/ready") | nindent 12 }}
          {{- end }}
          {{- if gt (int $values.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              # Endpoints are removed asynchronously: keep serving until load balancers stop sending.
              exec:
                command: ["sleep", {{ $values.preStopSleepSeconds | quote }}]
          {{- end }}
          resources:
            {{- toYaml $values.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $root.Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "journal.service" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "journal.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "journal.componentLabels" . | nindent 4 }}
  {{- $annotations := merge (deepCopy $values.service.annotations) $root.Values.commonAnnotations }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $values.service.type }}
  selector:
    {{- include "journal.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $values.service.port }}
      targetPort: http
      protocol: TCP
    # Scraped by the ServiceMonitor; never routed by the Ingress (which targets `http`).
    - name: metrics
      port: {{ $values.service.metricsPort }}
      targetPort: metrics
      protocol: TCP
{{- end -}}

{{- define "journal.hpa" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
{{- if $values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "journal.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "journal.componentLabels" . | nindent 4 }}
  {{- with (include "journal.annotations" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "journal.componentName" . }}
  minReplicas: {{ $values.autoscaling.minReplicas }}
  maxReplicas: {{ $values.autoscaling.maxReplicas }}
  metrics:
    {{- with $values.autoscaling.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $values.autoscaling.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "journal.pdb" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
{{- if $values.pdb.create }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "journal.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "journal.componentLabels" . | nindent 4 }}
  {{- with (include "journal.annotations" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  {{- if not (kindIs "invalid" $values.pdb.minAvailable) }}
  {{- if ne (toString $values.pdb.minAvailable) "" }}
  minAvailable: {{ $values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  {{- end }}
  {{- else }}
  maxUnavailable: {{ $values.pdb.maxUnavailable }}
  {{- end }}
  {{- /* Pods that are not ready may be evicted: a store outage never blocks node drains (1.26+). */}}
  {{- if and $values.pdb.unhealthyPodEvictionPolicy (semverCompare ">=1.26-0" $root.Capabilities.KubeVersion.Version) }}
  unhealthyPodEvictionPolicy: {{ $values.pdb.unhealthyPodEvictionPolicy }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "journal.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The scraper (Prometheus) as a NetworkPolicy peer. Takes the root context. */}}
{{- define "journal.scraperPeer" -}}
- namespaceSelector:
    {{- toYaml .Values.networkPolicy.metrics.namespaceSelector | nindent 4 }}
  podSelector:
    {{- toYaml .Values.networkPolicy.metrics.podSelector | nindent 4 }}
{{- end -}}

{{/*
Who may reach a service: the gateway from everyone (or networkPolicy.gatewayFrom); the others
from the gateway only (auth also from the services, which fetch its JWKS); every one of them from
the scraper (networkPolicy.metrics) on its metrics port, whatever gatewayFrom says.
*/}}
{{- define "journal.networkPolicy" -}}
{{- $root := .root -}}
{{- $values := index $root.Values .component -}}
{{- if $root.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "journal.componentName" . }}
  namespace: {{ $root.Release.Namespace | quote }}
  labels:
    {{- include "journal.componentLabels" . | nindent 4 }}
  {{- with (include "journal.annotations" $root) }}{{ . | nindent 2 }}{{ end }}
spec:
  podSelector:
    matchLabels:
      {{- include "journal.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
  ingress:
    {{- if eq .component "gateway" }}
    - ports:
        - port: http
          protocol: TCP
      {{- with $root.Values.networkPolicy.gatewayFrom }}
      from:
        {{- toYaml . | nindent 8 }}
        {{- if $root.Values.tests.enabled }}
        # The `helm test` pod.
        - podSelector:
            matchLabels:
              {{- include "journal.selectorLabels" (dict "root" $root "component" "test") | nindent 14 }}
        {{- end }}
      {{- end }}
    {{- else }}
    - ports:
        - port: http
          protocol: TCP
      from:
        {{- $clients := list "gateway" }}
        {{- if eq .component "auth" }}{{ $clients = list "gateway" "sync" "attachments" }}{{ end }}
        {{- range $clients }}
        - podSelector:
            matchLabels:
              {{- include "journal.selectorLabels" (dict "root" $root "component" .) | nindent 14 }}
        {{- end }}
    {{- end }}
    # The scraper, on the metrics port only.
    - ports:
        - port: metrics
          protocol: TCP
      from:
        {{- include "journal.scraperPeer" $root | nindent 8 }}
{{- end }}
{{- end -}}
