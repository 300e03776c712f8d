# syntax=docker/dockerfile:1
# The image the manifests in deploy/ and the chart run (docs/operations.md,
# "The image"). Build stage: bundle src/ into dist/ and install the production
# dependencies; runtime stage: only those, as a non-root user.
# test/package/image.test.ts stages what the runtime stage copies and runs
# it as a non-root user (no registry is reachable from the test machines).

# Pinned: the same Node as the checkout's `node` devDependency. For
# reproducible builds pin the digest too (node:24.21.0-bookworm-slim@sha256:…).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency's binary is not needed here (the
# image has Node) and no production dependency needs an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY hack/build.ts hack/
COPY src src
# The build stage is discarded, so npm's cache needs no cleaning here (and the
# image test replays these lines on a developer machine, whose cache it would wipe).
RUN node hack/build.ts \
 && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="etcd-monitor" \
      org.opencontainers.image.description="Inspects etcd clusters and exports Prometheus metrics: standalone daemon, one-shot CLI and Kubernetes operator." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}"
# No NODE_OPTIONS: the launcher (bin/etcd-monitor.js) sizes V8's heap for
# the long-running commands (a 1 MiB young generation that grows when
# scavenges cost a busy process a real share of its time; a fixed
# --max-semi-space-size here would turn that off: docs/performance.md, "CPU").
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json /app/package.json
COPY --from=build /src/node_modules /app/node_modules
COPY --from=build /src/dist /app/dist
COPY bin /app/bin
COPY LICENSE README.md /app/
# 65532: the conventional "nonroot" uid; no shell login, no writable app dir.
USER 65532:65532
EXPOSE 9379 8080
ENTRYPOINT ["node", "/app/bin/etcd-monitor.js"]
CMD ["--help"]
