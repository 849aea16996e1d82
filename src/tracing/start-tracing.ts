/**
 * OpenTelemetry tracing, started by src/main.ts only when the OTEL_* variables ask for it
 * (config.ts: tracingRequested), so a server without them never loads this module or the SDK.
 * The SDK (@opentelemetry/sdk-node) reads its own variables: OTEL_EXPORTER_OTLP_* (endpoint,
 * protocol, headers), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG),
 * OTEL_PROPAGATORS, OTEL_BSP_*. Traces only: metrics stay on Prometheus (CHATMEMORY_METRICS_LISTEN)
 * and logs on stdout, so the SDK's metric and log exporters are left off. Spans are made by hand
 * in the transport (GrpcCallTracer) and around the store's Redis commands (RedisCommandTracer),
 * not by module-patching instrumentation: why in docs/tracing.md.
 */
import { context, propagation, trace } from "@opentelemetry/api";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import type { SpanProcessor } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { GrpcCallTracer } from "./grpc-call-tracer.js";
import { RedisCommandTracer, redisServerAttributes } from "./redis-command-tracer.js";

export interface TracingOptions {
  /** Where spans go instead of the exporter the variables name (tests: an InMemorySpanExporter). */
  spanProcessors?: SpanProcessor[];
  /** The REDIS_URL, for the Redis spans' server.address, server.port and db.namespace. */
  redisUrl?: string | undefined;
}

export interface Tracing {
  /** For createChatMemoryServer's `tracer`. */
  callTracer: GrpcCallTracer;
  /** For createStore's `redisCommands` hook. */
  redisCommands: RedisCommandTracer;
  /** Exports the spans still queued (waiting at most `timeoutMs`), then unregisters the SDK. */
  shutdown(timeoutMs?: number): Promise<void>;
}

const TRACER_NAME = "chatmemory";

export function startTracing(options: TracingOptions = {}): Tracing {
  const sdk = new NodeSDK({
    // "chatmemory" unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise (detected attributes win).
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: TRACER_NAME })),
    metricReaders: [],
    logRecordProcessors: [],
    ...(options.spanProcessors === undefined ? {} : { spanProcessors: options.spanProcessors }),
  });
  sdk.start();
  const tracer = trace.getTracer(TRACER_NAME);
  return {
    callTracer: new GrpcCallTracer(tracer),
    redisCommands: new RedisCommandTracer(tracer, redisServerAttributes(options.redisUrl)),
    async shutdown(timeoutMs = 5000) {
      let timer: NodeJS.Timeout | undefined;
      // An unreachable collector must not hold up the process's exit.
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
      await Promise.race([sdk.shutdown(), timeout]);
      clearTimeout(timer);
      // Leaves the API as it was before start (tests start tracing more than once per process).
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
