/**
 * Binds a protobuf-es service descriptor (GenService) to @grpc/grpc-js:
 * Protobuf-ES ships no RPC transport, so this builds the grpc-js service
 * definition from the descriptor, with binary codecs from the generated
 * schemas, and wraps typed handlers that never see a grpc-js call object.
 */
import type { PeerCertificate } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { ChatMemoryError, toChatMemoryError } from "./errors.js";

/** What a handler may know about its call, without grpc-js types leaking into the service. */
export interface CallContext {
  /** Aborted when the caller cancels or its deadline passes. */
  readonly signal: AbortSignal;
  readonly metadata: grpc.Metadata;
  readonly peer: string;
  /** The verified client certificate on an mTLS connection; undefined otherwise. */
  readonly peerCertificate: PeerCertificate | undefined;
}

type UnaryHandler<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, context: CallContext) => Promise<MessageInitShape<O> | EncodedMessage<O>>
  : never;

/**
 * A response a handler has already encoded with a specialised encoder (a hot
 * path where building messages for toBinary costs too much); sent as is. The
 * schema ties the bytes to the method's output type.
 */
export class EncodedMessage<D extends DescMessage> {
  constructor(
    readonly schema: D,
    readonly bytes: Uint8Array,
  ) {}
}

/** The implementation of a generated service: one async handler per method, keyed by its local name. */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: UnaryHandler<S[K]> };

/** The outcome of one finished call, for logs and metrics. */
export interface CallOutcome {
  method: string;
  code: grpc.status;
  durationMs: number;
  /** The internal failure behind a non-OK status (never sent to the caller). */
  error?: ChatMemoryError;
}

export interface AdapterOptions {
  onCallStart?: (method: string) => void;
  onCallEnd?: (outcome: CallOutcome) => void;
}

/** Wraps bytes as a Buffer without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export interface MethodCodec<I extends DescMessage, O extends DescMessage> {
  path: string;
  serializeRequest: (value: MessageInitShape<I>) => Buffer;
  deserializeRequest: (bytes: Buffer) => MessageShape<I>;
  serializeResponse: (value: MessageInitShape<O>) => Buffer;
  deserializeResponse: (bytes: Buffer) => MessageShape<O>;
}

/** Path and binary codecs of one method, shared by the server definition and the client. */
export function methodCodec<I extends DescMessage, O extends DescMessage>(
  method: DescMethod & { input: I; output: O },
): MethodCodec<I, O> {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    serializeRequest: (value) => asBuffer(toBinary(method.input, create(method.input, value))),
    deserializeRequest: (bytes) => fromBinary(method.input, bytes),
    serializeResponse: (value) => asBuffer(toBinary(method.output, create(method.output, value))),
    deserializeResponse: (bytes) => fromBinary(method.output, bytes),
  };
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
  options: AdapterOptions = {},
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<DecodedRequest, ResponseInit>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of unaryMethods(service)) {
    const codec = methodCodec(method);
    definition[method.localName] = {
      path: codec.path,
      originalName: method.name,
      requestStream: false,
      responseStream: false,
      requestSerialize: codec.serializeRequest,
      requestDeserialize: (bytes: Buffer): DecodedRequest => {
        try {
          return { ok: true, message: codec.deserializeRequest(bytes) };
        } catch (error: unknown) {
          return { ok: false, error };
        }
      },
      responseSerialize: (value: ResponseInit) =>
        value instanceof EncodedMessage ? asBuffer(value.bytes) : codec.serializeResponse(value),
      responseDeserialize: codec.deserializeResponse,
    };
    const handler = (impl as Record<string, UntypedHandler>)[method.localName];
    if (!handler) throw new Error(`${service.typeName}.${method.name}: no handler`);
    handlers[method.localName] = unaryCallHandler(method, handler, options);
  }
  return { definition, handlers };
}

/**
 * The handler's view of its call. The AbortController and the peer string are
 * made only when a handler reads them: grpc-js emits "cancelled" when every
 * call's stream closes, finished ones included, and aborting a controller
 * builds a DOMException with a stack trace (5% of the server's CPU on Append
 * when it was done for every call).
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
    metadata: call.metadata,
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
  options: AdapterOptions,
): grpc.handleUnaryCall<DecodedRequest, ResponseInit> {
  const methodName = `${method.parent.typeName}/${method.name}`;
  return (call, callback) => {
    const started = performance.now();
    options.onCallStart?.(methodName);
    const finish = (code: grpc.status, error?: ChatMemoryError) =>
      options.onCallEnd?.({ method: methodName, code, durationMs: performance.now() - started, error });

    const decoded = call.request;
    // A call whose caller already gave up (deadline passed while queued) does no store work.
    const result = call.cancelled
      ? Promise.reject(new ChatMemoryError(grpc.status.CANCELLED, "the call was cancelled before it started"))
      : decoded.ok
      ? Promise.resolve().then(() =>
          handler(decoded.message, callContext(call)),
        )
      : Promise.reject(
          new ChatMemoryError(grpc.status.INVALID_ARGUMENT, `request: not a valid ${method.input.typeName} message`, {
            cause: decoded.error,
          }),
        );
    // then(onOk, onError) guarantees the callback runs exactly once.
    result.then(
      (response) => {
        finish(grpc.status.OK);
        callback(null, response);
      },
      (failure: unknown) => {
        const error = toChatMemoryError(failure);
        finish(error.code, error);
        callback({ name: error.name, message: error.message, code: error.code, details: error.message });
      },
    );
  };
}
