/**
 * Process entry: configuration, logger, store, server, signals. Nothing else.
 */
import { pino } from "pino";
import { createTenantResolver } from "./auth/tenants.js";
import { ConfigError, parseConfig } from "./config.js";
import { createServerSecurity } from "./grpc/server-credentials.js";
import { type MetricsEndpoint, serveMetrics } from "./metrics/metrics-endpoint.js";
import { formatHostPort, parseHostPort } from "./host-port.js";
import { ServerMetrics } from "./metrics/server-metrics.js";
import { type ChatMemoryServer, createChatMemoryServer } from "./server.js";
import { createStore } from "./store/create-store.js";
import { createTokenCounter } from "./tokens/token-counter.js";

/** The URL without its password, for logs. */
function redactedUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = "***";
  return parsed.toString();
}

/** The address a listener got: its configured host with the port it bound (port 0 picks one). */
function boundAddress(listen: string, port: number): string {
  return formatHostPort({ host: parseHostPort(listen, { allowPortZero: true }).host, port });
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (error: unknown) {
    if (error instanceof ConfigError) {
      if (error.message) process.stderr.write(`chatmemory: invalid configuration: ${error.message}\nRun with --help for the list of settings.\n`);
      process.exit(error.exitCode);
    }
    throw error;
  }

  // Synchronous writes keep lines ordered and flushed when the process exits after a signal.
  const logger = pino({ level: config.logLevel, base: { service: "chatmemory" } }, pino.destination({ sync: true }));
  // Loaded only when asked for: without OTEL_* variables no OpenTelemetry module is loaded at all.
  const tracing = config.tracing ? (await import("./tracing/start-tracing.js")).startTracing({ redisUrl: config.redisUrl }) : undefined;
  const store = await createStore(config, logger, { redisCommands: tracing?.redisCommands });
  if (store.kind === "memory") {
    logger.warn(
      "REDIS_URL is not set: using the embedded in-process store. Data is lost on restart and NOT shared between replicas; set REDIS_URL for production.",
    );
  }
  // Metrics read the server's state at scrape time, so they can be made before it.
  const metrics =
    config.metricsListen === undefined
      ? undefined
      : new ServerMetrics({
          serving: () => server.health.status === "SERVING",
          inFlight: () => server.activeCalls,
          watch: () => server.watchCounters,
        });
  const tokenCounter = createTokenCounter(config.tokenEncoding);
  // Loads the encoding's ranks now, not in the first Append's path.
  await tokenCounter.count([""]);
  const server: ChatMemoryServer = createChatMemoryServer({
    tokenCounter,
    store,
    logger,
    limits: { maxBatch: config.maxBatch, maxContentBytes: config.maxContentBytes },
    maxReceiveBytes: config.maxReceiveBytes,
    toolSafeWindow: config.toolSafeWindow,
    watchBufferMessages: config.watchBuffer,
    healthIntervalMs: config.healthIntervalMs,
    maxConnectionIdleMs: config.maxConnectionIdleMs,
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    maxConnectionAgeGraceMs: config.maxConnectionAgeGraceMs,
    security: createServerSecurity(config),
    resolveTenant: createTenantResolver(config.auth, config.tenantTokens),
    metrics,
    tracer: tracing?.callTracer,
  });

  let metricsEndpoint: MetricsEndpoint | undefined;

  // Handlers go in before the server listens: a signal that arrives right after the startup
  // line must drain, not kill the process with the default action.
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down: draining in-flight calls");
    await server.shutdown(config.shutdownGraceMs);
    await metricsEndpoint?.close();
    await tokenCounter.close();
    await store.close();
    // Exports the spans still queued, for at most a few seconds.
    await tracing?.shutdown();
    logger.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", (signal) => void stop(signal));
  process.on("SIGINT", (signal) => void stop(signal));

  let port: number;
  let healthPort: number | undefined;
  try {
    port = await server.listen(config.listen);
    if (config.healthListen !== undefined) healthPort = await server.listenHealth(config.healthListen);
    if (metrics !== undefined && config.metricsListen !== undefined) metricsEndpoint = await serveMetrics(metrics.registry, config.metricsListen);
  } catch (error: unknown) {
    logger.fatal({ err: error, listen: config.listen, healthListen: config.healthListen, metricsListen: config.metricsListen }, "cannot listen");
    await store.close();
    process.exit(1);
  }
  const address = boundAddress(config.listen, port);
  logger.info(
    {
      address,
      healthAddress: healthPort === undefined || config.healthListen === undefined ? undefined : boundAddress(config.healthListen, healthPort),
      metricsAddress:
        metricsEndpoint === undefined || config.metricsListen === undefined ? undefined : boundAddress(config.metricsListen, metricsEndpoint.port),
      store: store.kind,
      redis: config.redisUrl === undefined ? undefined : redactedUrl(config.redisUrl),
      redisCluster: config.redisClusterNodes?.map(({ host, port }) => `${host}:${port}`).join(","),
      redisSentinels: config.redisSentinels?.map(({ host, port }) => `${host}:${port}`).join(","),
      // Which ACL users authenticate (never the passwords).
      redisUser: config.redisPassword === undefined ? undefined : (config.redisUsername ?? "default"),
      redisSentinelUser: config.redisSentinelPassword === undefined ? undefined : (config.redisSentinelUsername ?? "default"),
      keyPrefix: config.keyPrefix,
      windowMessages: config.maxTurns * 2,
      maxTurns: config.maxTurns,
      ttlSeconds: config.ttlSeconds ?? null,
      tls: config.tlsClientCa !== undefined ? "mtls" : config.tlsCert !== undefined ? "tls" : "off",
      auth: config.auth,
      tracing: config.tracing ? "opentelemetry" : "off",
    },
    `chatmemory listening on ${address}`,
  );
}

await main();
