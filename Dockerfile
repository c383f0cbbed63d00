# syntax=docker/dockerfile:1.7
# One image per service, chosen with a build argument:
#   docker build --build-arg SERVICE=gateway -t journal-gateway .
# SERVICE is one of gateway, auth, sync, attachments.
# The web app (clients/web) is the `web` target: static files served by nginx.
#   docker build --target web -t journal-web .
ARG NODE_IMAGE=node:22-bookworm-slim
ARG SERVICE=gateway
ARG NGINX_IMAGE=nginx:1.27-alpine

# Only the manifests, so the dependency layers are cached until a package.json or the lock changes.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY services/auth/package.json services/auth/
COPY services/sync/package.json services/sync/
COPY services/attachments/package.json services/attachments/
COPY services/gateway/package.json services/gateway/
COPY clients/js/package.json clients/js/
COPY clients/web/package.json clients/web/

# Every dependency, dev ones included: the compiler is one of them. No install scripts: the build
# runs only tsc (and the client SDK's native better-sqlite3 dev dependency is never compiled here).
FROM manifests AS deps
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund --ignore-scripts

# The same command as `npm run build` (tsc -b): shared/ first, then the services.
FROM deps AS build
COPY tsconfig.base.json tsconfig.json ./
COPY shared/ shared/
COPY services/ services/
COPY clients/ clients/
RUN npm run build

# The web app's static build (Vite), with the SDK compiled in from its sources.
FROM deps AS web-build
COPY tsconfig.base.json ./
COPY clients/ clients/
RUN npm run build --workspace @journal/web

# The web app: nginx serving the build and forwarding the API paths to GATEWAY_URL.
FROM ${NGINX_IMAGE} AS web
ENV GATEWAY_URL=http://gateway:8000
# The proxy in front whose X-Forwarded-For is believed (deploy/web/real-ip.conf.template);
# `unix:` trusts no TCP peer: the client is whoever connects.
ENV REAL_IP_FROM=unix:
COPY deploy/web/default.conf.template /etc/nginx/templates/default.conf.template
COPY deploy/web/real-ip.conf.template /etc/nginx/templates/real-ip.conf.template
COPY --from=web-build /app/clients/web/dist /usr/share/nginx/html
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]

# Runtime base: tini as PID 1 (forwards SIGTERM to node, reaps zombies), a non-root user.
FROM ${NODE_IMAGE} AS base
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 journal \
  && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin journal
ENV NODE_ENV=production

# Each service's port (the default of PORT in its config schema) and its metrics port (the
# default of METRICS_PORT: PORT + 1000, GET /metrics only).
FROM base AS port-gateway
ENV PORT=8000
EXPOSE 8000 9000
FROM base AS port-auth
ENV PORT=8001
EXPOSE 8001 9001
FROM base AS port-sync
ENV PORT=8002
EXPOSE 8002 9002
FROM base AS port-attachments
ENV PORT=8003
EXPOSE 8003 9003

FROM port-${SERVICE} AS runtime
ARG SERVICE
WORKDIR /app
# Production dependencies of this one service and of the shared workspace package it links.
COPY --from=manifests /app ./
RUN --mount=type=cache,target=/root/.npm \
  npm ci --omit=dev --workspace "@journal/${SERVICE}" --include-workspace-root=false \
    --no-audit --no-fund --ignore-scripts
# Compiled JavaScript only: no TypeScript sources, tests or dev dependencies.
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/services/${SERVICE}/dist services/${SERVICE}/dist
WORKDIR /app/services/${SERVICE}
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
