/**
 * createChatMemoryServer: the grpc-js Server with the ChatMemory service, the
 * standard health service (following the store) and reflection, plus a
 * bounded graceful shutdown.
 */
import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { ChatMemory, file_chatmemory_v1_chatmemory } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { file_grpc_reflection_v1_reflection } from "../gen/ts/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";
import { file_health_v1_health } from "../gen/ts/health/v1/health_pb.js";
import { type CallObserver, type CallOutcome, type CallTracer, createServiceBinding } from "./grpc/adapter.js";
import { addReflection } from "./grpc/reflection.js";
import type { ServerSecurity } from "./grpc/server-credentials.js";
import { StoreHealthMonitor } from "./health/store-health-monitor.js";
import { createChatMemoryService } from "./service/chat-memory.js";
import { Code } from "./service/errors.js";
import { WatchCounters } from "./service/watch-hub.js";
import type { TenantResolver } from "./service/tenancy.js";
import type { TextTokenCounter } from "./service/token-budget.js";
import type { RequestLimits } from "./service/validate.js";
import type { ChatStore } from "./store/chat-store.js";

/** Names the health service answers for: the whole server and the ChatMemory service. */
export const HEALTH_SERVICE_NAMES = ["", ChatMemory.typeName] as const;

export interface ChatMemoryServerOptions {
  store: ChatStore;
  limits: RequestLimits;
  logger: Logger;
  /** Largest request accepted; larger ones get RESOURCE_EXHAUSTED from grpc-js. */
  maxReceiveBytes: number;
  healthIntervalMs: number;
  /** Close connections that carried no call for this long (default 5 min). */
  maxConnectionIdleMs?: number;
  /**
   * Send GOAWAY to connections this old (default never), so long-lived HTTP/2 clients reconnect
   * and the balancer in front (round_robin, a proxy, a mesh) can place them on newer replicas.
   */
  maxConnectionAgeMs?: number;
  /** After the age GOAWAY, how long calls already running may take before the connection is closed (default no limit). */
  maxConnectionAgeGraceMs?: number;
  /** Transport security for listen(); default plaintext. */
  security?: ServerSecurity;
  /** Reads cut by `limit` drop the `tool` messages that would lead them (default true). */
  toolSafeWindow?: boolean;
  /** Most messages held for one slow Watch reader before it gets a reset. */
  watchBufferMessages?: number;
  /** Counts tokens for `token_count` and `max_tokens` (src/tokens/token-counter.ts); the caller closes it. */
  tokenCounter: TextTokenCounter;
  /** Tenant scoping (src/auth/tenants.ts makes resolvers); default none. */
  resolveTenant?: TenantResolver;
  /** Told of every ChatMemory call (e.g. Prometheus metrics); default none (no cost per call). */
  metrics?: CallObserver;
  /** Traces every ChatMemory call (OpenTelemetry: src/tracing); default none (no cost per call). */
  tracer?: CallTracer;
}

export interface ChatMemoryServer {
  /** Binds `address` (port 0 picks a free one), starts health checks; resolves to the bound port. */
  listen(address: string): Promise<number>;
  /**
   * Binds a second, plaintext listener that serves only grpc.health.v1 (the same statuses), for
   * probes that cannot do TLS or present a client certificate; resolves to the bound port.
   */
  listenHealth(address: string): Promise<number>;
  /** NOT_SERVING, refuse new calls, let in-flight ones finish for up to `graceMs`, then force-close. Does not close the store. */
  shutdown(graceMs: number): Promise<void>;
  readonly grpcServer: grpc.Server;
  readonly health: StoreHealthMonitor;
  /** ChatMemory calls being handled right now (for tests and diagnostics). */
  readonly activeCalls: number;
  /** This server's Watch streams, messages, resets and overflows so far (for metrics). */
  readonly watchCounters: WatchCounters;
}

/**
 * Connection hygiene: keepalive pings find dead peers (and free their sessions)
 * within a minute; a bounded number of concurrent calls per connection; idle
 * connections (including sockets that never speak HTTP/2) are closed.
 */
export const SERVER_CHANNEL_OPTIONS: grpc.ServerOptions = {
  "grpc.keepalive_time_ms": 30_000,
  "grpc.keepalive_timeout_ms": 10_000,
  // Let clients ping as often as every 10 s without being sent GOAWAY (too_many_pings).
  "grpc.http2.min_ping_interval_without_data_ms": 10_000,
  "grpc.max_concurrent_streams": 1000,
};
const DEFAULT_MAX_CONNECTION_IDLE_MS = 300_000;

function logCallOutcome(logger: Logger) {
  return ({ method, code, durationMs, error }: CallOutcome) => {
    if (code === Code.OK) {
      // Checked first so a disabled trace level costs no fields object on every call.
      if (logger.isLevelEnabled("trace")) logger.trace({ method, durationMs }, "call ok");
      return;
    }
    const fields = { method, code: Code[code], durationMs, err: error?.cause ?? error };
    if (code === Code.INTERNAL) logger.error(fields, "call failed");
    else if (code === Code.UNAVAILABLE || code === Code.FAILED_PRECONDITION) logger.warn(fields, "call failed");
    else logger.debug(fields, "call rejected");
  };
}

/** Binds `server` to `address`; resolves to the bound port. */
function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
}

export function createChatMemoryServer(options: ChatMemoryServerOptions): ChatMemoryServer {
  const { store, logger } = options;
  const connectionOptions: grpc.ServerOptions = {
    ...SERVER_CHANNEL_OPTIONS,
    "grpc.max_connection_idle_ms": options.maxConnectionIdleMs ?? DEFAULT_MAX_CONNECTION_IDLE_MS,
    // Unset = grpc-js's default (no maximum age), so only set keys that were given.
    ...(options.maxConnectionAgeMs === undefined ? {} : { "grpc.max_connection_age_ms": options.maxConnectionAgeMs }),
    ...(options.maxConnectionAgeGraceMs === undefined ? {} : { "grpc.max_connection_age_grace_ms": options.maxConnectionAgeGraceMs }),
  };
  const grpcServer = new grpc.Server({ ...connectionOptions, "grpc.max_receive_message_length": options.maxReceiveBytes });
  // Aborted when shutdown starts: streams that would never end by themselves (Watch) end then.
  const draining = new AbortController();
  const watchCounters = new WatchCounters();

  const service = createChatMemoryService({
    store,
    limits: options.limits,
    logger,
    resolveTenant: options.resolveTenant,
    toolSafeWindow: options.toolSafeWindow,
    tokenCounter: options.tokenCounter,
    watchBufferMessages: options.watchBufferMessages,
    drainSignal: draining.signal,
    watchCounters,
  });
  let activeCalls = 0;
  const logOutcome = logCallOutcome(logger);
  const { metrics } = options;
  const binding = createServiceBinding(ChatMemory, service, {
    callStarted(method) {
      activeCalls++;
      metrics?.callStarted(method);
    },
    callEnded(outcome) {
      activeCalls--;
      logOutcome(outcome);
      metrics?.callEnded(outcome);
    },
  }, options.tracer);
  grpcServer.addService(binding.definition, binding.handlers);

  const healthService = new HealthImplementation(
    Object.fromEntries(HEALTH_SERVICE_NAMES.map((name) => [name, "NOT_SERVING"])),
  );
  healthService.addToServer(grpcServer);
  const health = new StoreHealthMonitor({
    store,
    health: healthService,
    serviceNames: HEALTH_SERVICE_NAMES,
    intervalMs: options.healthIntervalMs,
    logger,
  });

  // Every service this server runs, so `grpcurl list` and `describe` cover them all.
  addReflection(grpcServer, [
    file_chatmemory_v1_chatmemory,
    file_health_v1_health,
    file_grpc_reflection_v1_reflection,
    file_grpc_reflection_v1alpha_reflection,
  ]);

  let healthServer: grpc.Server | undefined;

  return {
    grpcServer,
    health,
    watchCounters,
    get activeCalls() {
      return activeCalls;
    },
    async listen(address) {
      await options.security?.ready();
      const port = await bind(grpcServer, address, options.security?.credentials ?? grpc.ServerCredentials.createInsecure());
      await health.start();
      return port;
    },
    async listenHealth(address) {
      healthServer = new grpc.Server(connectionOptions);
      healthService.addToServer(healthServer);
      return bind(healthServer, address, grpc.ServerCredentials.createInsecure());
    },
    async shutdown(graceMs) {
      health.stop();
      draining.abort();
      await new Promise<void>((resolve) => {
        // tryShutdown can wait forever on dead sessions (grpc-node #1458): force after the grace period.
        const force = setTimeout(() => {
          logger.warn({ graceMs }, "grace period over; cancelling remaining calls");
          grpcServer.forceShutdown();
          resolve();
        }, graceMs);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      // Probes saw NOT_SERVING through the drain; health calls are short, nothing to wait for.
      healthServer?.forceShutdown();
    },
  };
}
