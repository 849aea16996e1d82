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
import { EncodedMessage, type ServiceImpl } from "../service/service-impl.js";
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

/** Wraps bytes as a Buffer without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

function unaryMethods(service: DescService): DescMethod[] {
  for (const method of service.methods) {
    if (method.methodKind !== "unary") {
      throw new Error(`${service.typeName}.${method.name}: only unary methods are supported`);
    }
  }
  return service.methods;
}

/** Builds the grpc-js definition and handlers that serve `impl` for `service`. */
export function createServiceBinding<S extends GenServiceMethods>(
  service: DescService & { method: S },
  impl: ServiceImpl<S>,
  observer?: CallObserver,
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<DecodedRequest, ResponseInit>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of unaryMethods(service)) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      originalName: method.name,
      requestStream: false,
      responseStream: false,
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
      responseSerialize: (value: ResponseInit) =>
        asBuffer(value instanceof EncodedMessage ? value.bytes : toBinary(method.output, create(method.output, value))),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
    const handler = (impl as Record<string, UntypedHandler>)[method.localName];
    if (!handler) throw new Error(`${service.typeName}.${method.name}: no handler`);
    handlers[method.localName] = unaryCallHandler(method, handler, observer);
  }
  return { definition, handlers };
}

/**
 * The handler's view of its call. The AbortController and the peer string are
 * made only when a handler reads them: grpc-js emits "cancelled" when every
 * call's stream closes, finished ones included, and aborting a controller
 * builds a DOMException with a stack trace, a cost every call would pay
 * (bench/notes.md).
 */
function callContext(call: grpc.ServerUnaryCall<unknown, unknown>): CallContext {
  let abort: AbortController | undefined;
  return {
    get signal() {
      if (!abort) {
        const controller = new AbortController();
        if (call.cancelled) controller.abort();
        else call.once("cancelled", () => controller.abort());
        abort = controller;
      }
      return abort.signal;
    },
    requestHeader(name) {
      const [value] = call.metadata.get(name);
      return typeof value === "string" ? value : undefined;
    },
    get peer() {
      return call.getPeer();
    },
    get peerCertificate() {
      return call.getAuthContext().sslPeerCertificate;
    },
  };
}

function unaryCallHandler(
  method: DescMethod,
  handler: UntypedHandler,
  observer: CallObserver | undefined,
): grpc.handleUnaryCall<DecodedRequest, ResponseInit> {
  const methodName = `${method.parent.typeName}/${method.name}`;
  return (call, callback) => {
    const started = performance.now();
    observer?.callStarted(methodName);
    const finish = (code: Code, error?: ChatMemoryError) =>
      observer?.callEnded({ method: methodName, code, durationMs: performance.now() - started, error });

    const decoded = call.request;
    // A call whose caller already gave up (deadline passed while queued) does no store work.
    const deadline = call.getDeadline();
    const expired = (deadline instanceof Date ? deadline.getTime() : deadline) <= Date.now();
    const result = call.cancelled
      ? Promise.reject(new ChatMemoryError(Code.CANCELLED, "the call was cancelled before it started"))
      : expired
      ? Promise.reject(new ChatMemoryError(Code.DEADLINE_EXCEEDED, "the deadline passed before the call started"))
      : decoded.ok
      ? Promise.resolve().then(() =>
          handler(decoded.message, callContext(call)),
        )
      : Promise.reject(
          decoded.error instanceof ChatMemoryError
            ? decoded.error
            : new ChatMemoryError(Code.INVALID_ARGUMENT, `request: not a valid ${method.input.typeName} message`, { cause: decoded.error }),
        );
    // then(onOk, onError) guarantees the callback runs exactly once.
    result.then(
      (response) => {
        finish(Code.OK);
        callback(null, response);
      },
      (failure: unknown) => {
        const error = toChatMemoryError(failure);
        finish(error.code, error);
        // Code holds gRPC's own numbers, so it is grpc-js's status as it is.
        callback({ name: error.name, message: error.message, code: error.code as number as grpc.status, details: error.message });
      },
    );
  };
}
