/**
 * Pre-encoded gRPC request frames for h2load, built with the generated
 * protobuf-es schemas: a 5-byte prefix (0 = uncompressed, 4-byte big-endian
 * length) followed by the protobuf bytes. Also the exact size of the response
 * frame each scenario expects, so a run can prove every call returned a
 * message (grpc-js answers a failed unary call with trailers only, no DATA).
 */
import { create, type DescMessage, type MessageInitShape, toBinary } from "@bufbuild/protobuf";

export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

export function encodeFrame<D extends DescMessage>(schema: D, init: MessageInitShape<D>): Buffer {
  return grpcFrame(toBinary(schema, create(schema, init)));
}

/** Bytes of the DATA a successful call with this response carries (prefix included). */
export function responseFrameBytes<D extends DescMessage>(schema: D, init: MessageInitShape<D>): number {
  return encodeFrame(schema, init).byteLength;
}
