/**
 * A server span per ChatMemory call, under the caller's trace when its metadata carries one
 * (`traceparent`, or what OTEL_PROPAGATORS names), with the stable RPC semantic conventions
 * (semantic-conventions 1.45: rpc.system.name, rpc.method, rpc.status_code).
 */
import { type Context, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TextMapGetter, trace, type Tracer } from "@opentelemetry/api";
import {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from "@opentelemetry/semantic-conventions";
import type { CallTracer, TracedCall, TracedCallStart } from "../grpc/adapter.js";
import { Code } from "../service/errors.js";
import { parseHostPort } from "../host-port.js";

/** Server-side gRPC statuses that mark the span as an error (the RPC conventions' list for servers); the rest are the caller's. */
const SERVER_ERRORS: ReadonlySet<Code> = new Set([Code.UNKNOWN, Code.DEADLINE_EXCEEDED, Code.UNIMPLEMENTED, Code.INTERNAL, Code.UNAVAILABLE, Code.DATA_LOSS]);

/** Reads propagation headers from the call's metadata. */
const METADATA_GETTER: TextMapGetter<TracedCallStart> = {
  get: (call, key) => call.requestHeader(key),
  // Only propagators that enumerate every key (none of the defaults) need this.
  keys: () => [],
};

/** `host:port` (IPv6 bracketed) as address and port; a bare host or a socket path as the address alone. */
function addressAndPort(raw: string): { address: string; port?: number } {
  try {
    const { host, port } = parseHostPort(raw, { allowPortZero: true });
    return { address: host, port };
  } catch {
    return { address: raw };
  }
}

function setAddress(span: Span, raw: string, addressKey: string, portKey: string): void {
  if (raw === "") return;
  const { address, port } = addressAndPort(raw);
  span.setAttribute(addressKey, address);
  if (port !== undefined) span.setAttribute(portKey, port);
}

export class GrpcCallTracer implements CallTracer {
  readonly #tracer: Tracer;

  constructor(tracer: Tracer) {
    this.#tracer = tracer;
  }

  startCall(call: TracedCallStart): TracedCall {
    const parent: Context = propagation.extract(ROOT_CONTEXT, call, METADATA_GETTER);
    const method = `${call.service}/${call.method}`;
    const span = this.#tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { [ATTR_RPC_SYSTEM_NAME]: "grpc", [ATTR_RPC_METHOD]: method } }, parent);
    // Addresses cost string parsing: only for spans that are kept.
    if (span.isRecording()) {
      setAddress(span, call.authority(), ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT);
      setAddress(span, call.peer(), ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT);
    }
    const active = trace.setSpan(parent, span);
    return {
      run: (work) => context.with(active, work),
      end(code, error) {
        span.setAttribute(ATTR_RPC_STATUS_CODE, Code[code]);
        if (SERVER_ERRORS.has(code)) {
          span.setAttribute(ATTR_ERROR_TYPE, Code[code]);
          span.setStatus({ code: SpanStatusCode.ERROR, message: error?.message });
          // The internal cause (never sent to the caller) is what an operator needs.
          const cause = error?.cause ?? error;
          if (cause instanceof Error) span.recordException(cause);
        }
        span.end();
      },
    };
  }
}
