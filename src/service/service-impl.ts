/**
 * The shape of a service implementation, typed from the generated descriptor
 * (as connect-es's ServiceImpl): one async handler per method, keyed by its
 * local name, taking the decoded request and a CallContext and returning a
 * plain init object of the response, or its bytes already encoded. strict tsc
 * then rejects a wrong field or a missing method.
 */
import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext } from "./call-context.js";

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

type UnaryHandler<M> = M extends {
  methodKind: "unary";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, context: CallContext) => Promise<MessageInitShape<O> | EncodedMessage<O>>
  : never;

/**
 * Where a server-streaming handler writes its responses. write() returns false
 * when the transport's buffer is full: the handler should then wait for
 * drained() before writing more, and bound whatever it holds meanwhile.
 */
export interface ResponseStream<O extends DescMessage> {
  write(response: MessageInitShape<O> | EncodedMessage<O>): boolean;
  /**
   * Writes several encoded responses, in order, each its own message, in one transport write when
   * it can; returns as write() does. The same array written to many streams is framed once. Absent
   * when the transport writes one response at a time anyway.
   */
  writeAll?(responses: readonly EncodedMessage<O>[]): boolean;
  drained(): Promise<void>;
}

/**
 * A server-streaming handler: writes to `stream` until it resolves (the call
 * ends OK) or rejects (the call ends with the error's status). The call's
 * cancellation and deadline abort `context.signal`.
 */
type ServerStreamingHandler<M> = M extends {
  methodKind: "server_streaming";
  input: infer I extends DescMessage;
  output: infer O extends DescMessage;
}
  ? (request: MessageShape<I>, context: CallContext, stream: ResponseStream<O>) => Promise<void>
  : never;

/** The implementation of a generated service: one async handler per method, keyed by its local name. */
export type ServiceImpl<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends { methodKind: "server_streaming" } ? ServerStreamingHandler<S[K]> : UnaryHandler<S[K]>;
};
