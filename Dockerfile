# ChatMemory server image: Node 24 slim, production dependencies only, non-root, gRPC health check.
#   podman build --format docker -t chatmemory .      (docker build -t chatmemory . elsewhere)
#   podman run -p 50051:50051 -e REDIS_URL=redis://redis:6379/0 chatmemory

# Build stage: compile TypeScript with the full dependency set.
FROM docker.io/library/node:24-bookworm-slim AS build
WORKDIR /app
# The client workspace's manifest only: the lockfile names the workspace, and npm ci wants it there.
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
# --ignore-scripts: no install step needs to run here (the `node` devDependency's binary download
# is for hosts with an older Node; this image already has Node 24). The optional `ca` build secret
# is a CA bundle for networks that intercept TLS to the registry; it never lands in a layer.
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
# Only the server and generated code (tsconfig.build.json); bench/ and tests are not part of the image.
COPY tsconfig.json tsconfig.build.json ./
COPY gen ./gen
COPY src ./src
RUN npx tsc -p tsconfig.build.json

# Runtime stage: production dependencies and compiled output only.
FROM docker.io/library/node:24-bookworm-slim
ENV NODE_ENV=production \
    CHATMEMORY_LISTEN=0.0.0.0:50051
WORKDIR /app
COPY package.json package-lock.json ./
COPY clients/typescript/package.json ./clients/typescript/
RUN --mount=type=secret,id=ca \
    if [ -s /run/secrets/ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca; fi; \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/gen ./dist/gen
USER node
EXPOSE 50051
# The gRPC health service, not a TCP probe: healthy only while the store answers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "dist/src/healthcheck.js"]
# Node runs as PID 1 and handles SIGTERM itself: NOT_SERVING, drain, close Redis, exit 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/main.js"]
