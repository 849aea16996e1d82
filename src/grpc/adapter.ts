/**
 * Binds a protobuf-es service descriptor (GenService) to @grpc/grpc-js:
 * Protobuf-ES ships no RPC transport, so this builds the grpc-js service
 * definition from the descriptor, with binary codecs from the generated
 * schemas, and wraps typed handlers that never see a grpc-js call object.
 */
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, type DescService, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext } from "../service/call-context.js";
import { ChatMemoryError, Code, toChatMemoryError } from "../service/errors.js";
import { EncodedMessage, type ResponseStream, type ServiceImpl } from "../service/service-impl.js";
import { framedResponseWriter, grpcFrames } from "./framed-response-writer.js";
import { findKindlessValue } from "./struct-kinds.js";

/** The outcome of one finished call, for logs and metrics. */
export interface CallOutcome {
  method: string;
  code: Code;
  durationMs: number;
  /** The internal failure behind a non-OK status (never sent to the caller). */
  error?: ChatMemoryError;
}

/** Told when each call starts and ends (metrics); the transport knows no metrics library. */
export interface CallObserver {
  callStarted(method: string): void;
  callEnded(outcome: CallOutcome): void;
}

/** What a tracer learns of a call as it starts: names, and the headers that may carry the caller's trace context. */
export interface TracedCallStart {
  /** The full service name, e.g. chatmemory.v1.ChatMemory. */
  service: string;
  /** The method's name in the proto, e.g. Append. */
  method: string;
  /** The first value of a request header (gRPC metadata), e.g. `traceparent`. */
  requestHeader(name: string): string | undefined;
  /** The :authority the caller used (host:port), read when the tracer asks. */
  authority(): string;
  /** The caller's address as grpc-js reports it (host:port), read when the tracer asks. */
  peer(): string;
}

/** One traced call: its handler runs inside `run` (so work it starts is traced under it); `end` is called once. */
export interface TracedCall {
  run<T>(work: () => Promise<T>): Promise<T>;
  end(code: Code, error?: ChatMemoryError): void;
}

/** Traces calls (e.g. OpenTelemetry, src/tracing); unset = no tracing and no cost per call. */
export interface CallTracer {
  startCall(call: TracedCallStart): TracedCall;
}

/** Wraps bytes as a Buffer without copying them (a Buffer as it is: a Watch step's bytes go to every watcher). */
function asBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function serializeResponse(method: DescMethod, value: ResponseInit): Buffer {
  return asBuffer(value instanceof EncodedMessage ? value.bytes : toBinary(method.output, create(method.output, value)));
}

/** Each encoded response's frame, made once however many streams it is written to (a Watch step goes to every watcher). */
const framedResponses = new WeakMap<EncodedMessage<DescMessage>, Buffer>();

function framedResponse(method: DescMethod, value: ResponseInit): Buffer {
  if (!(value instanceof EncodedMessage)) return grpcFrames([serializeResponse(method, value)]);
  let frame = framedResponses.get(value);
  if (frame === undefined) {
    frame = grpcFrames([value.bytes]);
    framedResponses.set(value, frame);
  }
  return frame;
}

/** The frames of a group of encoded responses back to back (one copy of each), made once however many streams the group goes to. */
const framedGroups = new WeakMap<readonly EncodedMessage<DescMessage>[], Buffer>();

function framedGroup(responses: readonly EncodedMessage<DescMessage>[]): Buffer {
  let frames = framedGroups.get(responses);
  if (frames === undefined) {
    frames = grpcFrames(responses.map((response) => response.bytes));
    framedGroups.set(responses, frames);
  }
  return frames;
}

/**
 * A request as the server decodes it. A payload that is not a valid message
 * (random bytes, invalid UTF-8 in a string) is carried to the handler wrapper
 * as a failure, so the caller gets INVALID_ARGUMENT instead of grpc-js's
 * INTERNAL for a deserializer exception.
 */
type DecodedRequest = { ok: true; message: unknown } | { ok: false; error: unknown };

/** Any response a handler returns: an init object (or message) of the method's output schema, or its bytes. */
type ResponseInit = MessageInitShape<DescMessage> | EncodedMessage<DescMessage>;
type UntypedHandler = (request: unknown, context: CallContext) => Promise<ResponseInit>;
type UntypedStreamingHandler = (request: unknown, context: CallContext, stream: ResponseStream<DescMessage>) => Promise<void>;

/** The methods this adapter can serve: unary and server streaming. */
function supportedMethods(service: DescService): DescMethod[] {
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}.${method.name}: only unary and server-streaming methods are supported`);
    }
  }
  return service.methods;
}

/** Builds the grpc-js definition and handlers that serve `impl` for `service`. */
export function createServiceBinding<S extends GenServiceMethods>(
  service: DescService & { method: S },
  impl: ServiceImpl<S>,
  observer?: CallObserver,
  tracer?: CallTracer,
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<DecodedRequest, ResponseInit>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of supportedMethods(service)) {
    const responseStream = method.methodKind === "server_streaming";
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: false,
      responseStream,
      requestSerialize: (value: DecodedRequest) => {
        if (!value.ok) throw new Error("a request that failed to decode is never sent");
        return asBuffer(toBinary(method.input, create(method.input, value.message as MessageInitShape<DescMessage>)));
      },
      requestDeserialize: (bytes: Buffer): DecodedRequest => {
        let message: unknown;
        try {
          message = fromBinary(method.input, bytes);
        } catch (error: unknown) {
          return { ok: false, error };
        }
        const kindless = findKindlessValue(method.input, message, bytes);
        if (kindless === undefined) return { ok: true, message };
        return { ok: false, error: ChatMemoryError.invalidArgument(kindless, "holds a google.protobuf.Value with no kind set") };
      },
      responseSerialize: (value: ResponseInit) => serializeResponse(method, value),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
    const handler = (impl as Record<string, UntypedHandler | UntypedStreamingHandler>)[method.localName];
    if (!handler) throw new Error(`${service.typeName}.${method.name}: no handler`);
    handlers[method.localName] = responseStream
      ? serverStreamingCallHandler(method, handler as UntypedStreamingHandler, observer, tracer)
      : unaryCallHandler(method, handler as UntypedHandler, observer, tracer);
  }
  return { definition, handlers };
}

/**
 * The handler's view of its call. The AbortController and the peer string are
 * made only when a handler reads them: grpc-js emits "cancelled" when every
 * call's stream closes, finished ones included, and aborting a controller
 * builds a DOMException with a stack trace, a cost every call would pay
 * (bench/notes.md). A class, so each call allocates one small object rather
 * than an object literal's accessors and closures.
 */
class GrpcCallContext implements CallContext {
  readonly #call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;
  #abort: AbortController | undefined;

  constructor(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) {
    this.#call = call;
  }

  get signal(): AbortSignal {
    if (!this.#abort) {
      const controller = new AbortController();
      if (this.#call.cancelled) controller.abort();
      else this.#call.once("cancelled", () => controller.abort());
      this.#abort = controller;
    }
    return this.#abort.signal;
  }

  requestHeader(name: string): string | undefined {
    const [value] = this.#call.metadata.get(name);
    return typeof value === "string" ? value : undefined;
  }

  get peer(): string {
    return this.#call.getPeer();
  }

  get peerCertificate() {
    return this.#call.getAuthContext().sslPeerCertificate;
  }
}

function callContext(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): CallContext {
  return new GrpcCallContext(call);
}

/**
 * Runs `run` with the decoded request, unless the call cannot start: a caller
 * that already gave up (cancelled, or its deadline passed while queued) costs
 * no store work, and a request that did not decode is INVALID_ARGUMENT.
 */
function startCall<T>(
  method: DescMethod,
  call: grpc.ServerUnaryCall<DecodedRequest, unknown> | grpc.ServerWritableStream<DecodedRequest, unknown>,
  run: (request: unknown) => Promise<T>,
): Promise<T> {
  const decoded = call.request;
  const deadline = call.getDeadline();
  const expired = (deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now();
  if (call.cancelled) return Promise.reject(new ChatMemoryError(Code.CANCELLED, "the call was cancelled before it started"));
  if (expired) return Promise.reject(new ChatMemoryError(Code.DEADLINE_EXCEEDED, "the deadline passed before the call started"));
  if (!decoded.ok) {
    return Promise.reject(
      decoded.error instanceof ChatMemoryError
        ? decoded.error
        : new ChatMemoryError(Code.INVALID_ARGUMENT, `request: not a valid ${method.input.typeName} message`, { cause: decoded.error }),
    );
  }
  return Promise.resolve().then(() => run(decoded.message));
}

/**
 * One call observed (metrics, logs) and traced when a tracer is set: `run` does the call's work
 * inside its span, `end` reports how it ended to both, once. A class, so a call allocates one small
 * object rather than closures.
 */
class ObservedCall implements TracedCall {
  readonly #methodName: string;
  readonly #started: number;
  readonly #observer: CallObserver | undefined;
  readonly #traced: TracedCall | undefined;

  constructor(methodName: string, started: number, observer: CallObserver | undefined, traced: TracedCall | undefined) {
    this.#methodName = methodName;
    this.#started = started;
    this.#observer = observer;
    this.#traced = traced;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return this.#traced === undefined ? work() : this.#traced.run(work);
  }

  end(code: Code, error?: ChatMemoryError): void {
    this.#traced?.end(code, error);
    this.#observer?.callEnded({ method: this.#methodName, code, durationMs: performance.now() - this.#started, error });
  }
}

/** Starts observing one call; `methodName` is `service/method`, made once per method. */
function observeCall(
  method: DescMethod,
  methodName: string,
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
  observer: CallObserver | undefined,
  tracer: CallTracer | undefined,
): ObservedCall {
  const started = performance.now();
  observer?.callStarted(methodName);
  const traced = tracer?.startCall({
    service: method.parent.typeName,
    method: method.name,
    requestHeader(name) {
      const [value] = call.metadata.get(name);
      return typeof value === "string" ? value : undefined;
    },
    authority: () => call.getHost(),
    peer: () => call.getPeer(),
  });
  return new ObservedCall(methodName, started, observer, traced);
}

/** The status grpc-js sends for a failure; Code holds gRPC's own numbers, so it is grpc-js's status as it is. */
function toServiceError(error: ChatMemoryError): grpc.ServiceError {
  return Object.assign(new Error(error.message), { name: error.name, code: error.code as number as grpc.status, details: error.message, metadata: new grpc.Metadata() });
}

function unaryCallHandler(
  method: DescMethod,
  handler: UntypedHandler,
  observer: CallObserver | undefined,
  tracer: CallTracer | undefined,
): grpc.handleUnaryCall<DecodedRequest, ResponseInit> {
  const methodName = `${method.parent.typeName}/${method.name}`;
  return (call, callback) => {
    const observed = observeCall(method, methodName, call, observer, tracer);
    // then(onOk, onError) guarantees the callback runs exactly once.
    observed.run(() => startCall(method, call, (request) => handler(request, callContext(call)))).then(
      (response) => {
        observed.end(Code.OK);
        callback(null, response);
      },
      (failure: unknown) => {
        const error = toChatMemoryError(failure);
        observed.end(error.code, error);
        callback(toServiceError(error));
      },
    );
  };
}

/**
 * A server-streaming call: the handler writes through a ResponseStream and its
 * promise decides how the call ends. A call the caller cancelled ends with
 * nothing more sent (grpc-js has already closed it).
 */
function serverStreamingCallHandler(
  method: DescMethod,
  handler: UntypedStreamingHandler,
  observer: CallObserver | undefined,
  tracer: CallTracer | undefined,
): grpc.handleServerStreamingCall<DecodedRequest, ResponseInit> {
  const methodName = `${method.parent.typeName}/${method.name}`;
  return (call) => {
    const observed = observeCall(method, methodName, call, observer, tracer);
    const framed = framedResponseWriter(call);
    const stream: ResponseStream<DescMessage> = framed
      ? {
          write: (response) => framed.write(framedResponse(method, response)),
          writeAll: (responses) => framed.write(framedGroup(responses), responses.length),
          drained: () => framed.drained(),
        }
      : grpcJsResponseStream(call);
    observed.run(() => startCall(method, call, (request) => handler(request, callContext(call), stream))).then(
      () => {
        framed?.flush();
        observed.end(call.cancelled ? Code.CANCELLED : Code.OK);
        if (!call.cancelled) call.end();
      },
      (failure: unknown) => {
        framed?.flush();
        const error = toChatMemoryError(failure);
        observed.end(error.code, error);
        // grpc-js's stream turns an "error" event into the call's status, sent after what was written.
        if (!call.cancelled) call.emit("error", toServiceError(error));
      },
    );
  };
}

/** Responses written through grpc-js, one stream write each: when its HTTP/2 stream is out of reach. */
function grpcJsResponseStream(call: grpc.ServerWritableStream<DecodedRequest, ResponseInit>): ResponseStream<DescMessage> {
  return {
    write: (response) => call.write(response),
    drained: () =>
      call.writableNeedDrain && !call.cancelled
        ? new Promise((resolve) => {
            const done = () => {
              call.off("drain", done);
              call.off("cancelled", done);
              resolve();
            };
            call.on("drain", done);
            call.on("cancelled", done);
          })
        : Promise.resolve(),
  };
}
