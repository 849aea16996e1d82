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

/** The implementation of a generated service: one async handler per method, keyed by its local name. */
export type ServiceImpl<S extends GenServiceMethods> = { [K in keyof S]: UnaryHandler<S[K]> };
