/**
 * The layers, as rules (npm run lint; test/layers.test.ts runs them too):
 *   main (wiring) -> config/settings, server, metrics, stores
 *   transport (src/server.ts, src/grpc, src/health) -> service -> store interface (src/store/chat-store.ts)
 *   stores (src/store) implement the interface and know nothing above it
 *   the client package (clients/typescript/src) -> its generated types, @grpc/grpc-js, @bufbuild/protobuf; nothing else
 *   its LangChain adapter (clients/typescript/src/langchain, the `./langchain` subpath) -> the client and @langchain/core, an optional peer
 *   tracing (src/tracing) implements the transport's CallTracer and the store's RedisCommandHook; only it
 *   imports @opentelemetry, and only main loads it, by a dynamic import (tracing off = nothing loaded)
 * Type-only imports count: a layer that names another's types depends on it.
 */
const ABOVE_STORE = "^src/(main|config|settings|server|index|healthcheck)\\.ts$|^src/(service|grpc|health|metrics|auth|tracing)/";

module.exports = {
  forbidden: [
    { name: "no-circular", severity: "error", from: {}, to: { circular: true } },
    {
      name: "client-package-stays-a-client",
      comment: "chatmemory-client depends on grpc-js and protobuf-es only: no store, logger, metrics or server code",
      severity: "error",
      from: { path: "^clients/typescript/src/", pathNot: "^clients/typescript/src/langchain/" },
      to: {
        dependencyTypesNot: ["core"],
        pathNot: "^clients/typescript/src/|^gen/ts/chatmemory/|^node_modules/(@grpc/grpc-js|@bufbuild/protobuf)/",
      },
    },
    {
      name: "langchain-adapter-adds-only-its-peer",
      comment: "the ./langchain subpath may load @langchain/core (an optional peer dependency), and nothing else new",
      severity: "error",
      from: { path: "^clients/typescript/src/langchain/" },
      to: {
        dependencyTypesNot: ["core"],
        pathNot: "^clients/typescript/src/|^gen/ts/chatmemory/|^node_modules/(@grpc/grpc-js|@bufbuild/protobuf|@langchain/core)/",
      },
    },
    {
      name: "client-root-never-loads-langchain",
      comment: "users without LangChain install nothing more: only the ./langchain subpath imports it",
      severity: "error",
      from: { path: "^clients/typescript/src/", pathNot: "^clients/typescript/src/langchain/" },
      to: { path: "^clients/typescript/src/langchain/" },
    },
    {
      name: "server-never-imports-the-client-package",
      comment: "the server binds the same generated descriptors itself; clients and tests are not part of it",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(clients|test|test-faults|test-container|bench)/" },
    },
    {
      name: "stores-know-nothing-above-them",
      severity: "error",
      from: { path: "^src/store/" },
      to: { path: ABOVE_STORE },
    },
    {
      name: "service-below-transport-and-wiring",
      comment: "the service layer takes a CallContext and returns plain objects; no grpc-js, no config, no Redis",
      severity: "error",
      from: { path: "^src/service/" },
      to: { path: "^src/(main|config|settings|server|healthcheck)\\.ts$|^src/(grpc|health|metrics|auth)/|^node_modules/(@grpc/grpc-js|ioredis|prom-client)/" },
    },
    {
      name: "service-uses-the-store-interface-only",
      severity: "error",
      from: { path: "^src/(service|grpc|health)/|^src/server\\.ts$" },
      to: { path: "^src/store/", pathNot: "^src/store/chat-store\\.ts$" },
    },
    {
      name: "transport-below-wiring",
      severity: "error",
      from: { path: "^src/(grpc|health)/|^src/server\\.ts$" },
      to: { path: "^src/(main|config|settings)\\.ts$|^src/metrics/|^node_modules/(ioredis|prom-client)/" },
    },
    {
      name: "only-wiring-reads-configuration",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(main|config|settings)\\.ts$" },
      to: { path: "^src/(config|settings)\\.ts$" },
    },
    {
      name: "opentelemetry-only-in-tracing",
      comment: "the transport and the store take hook interfaces (CallTracer, RedisCommandHook); src/tracing implements them",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/tracing/" },
      to: { path: "^node_modules/@opentelemetry/" },
    },
    {
      name: "tracing-loaded-only-on-demand",
      comment: "main imports src/tracing dynamically when OTEL_* asks for it, so a server without tracing loads no OpenTelemetry module",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/tracing/" },
      to: { path: "^src/tracing/", dependencyTypesNot: ["dynamic-import"] },
    },
    {
      name: "tracing-below-wiring",
      severity: "error",
      from: { path: "^src/tracing/" },
      to: { path: "^src/(main|config|settings|server)\\.ts$|^src/(metrics|auth|health)/|^node_modules/(ioredis|prom-client|pino)/" },
    },
    {
      name: "host-port-is-a-leaf",
      severity: "error",
      from: { path: "^src/host-port\\.ts$" },
      to: { path: "^src/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
