/**
 * AppendResponse and ReplaceResponse (the same three int64 fields) encoded by hand: every Append
 * answers with one, and protobuf-es's create() and reflective toBinary cost more than the three
 * varints (bench/notes.md). The bytes are toBinary's (test/write-response.test.ts compares them,
 * and pins ENCODED_WRITE_FIELDS against the generated schemas).
 */
import type { AppendResponseSchema, ReplaceResponseSchema } from "../../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { EncodedMessage } from "./service-impl.js";

/** Every field of both responses, name -> number (proto/chatmemory/v1/chatmemory.proto). */
export const ENCODED_WRITE_FIELDS = { count: 1, first_seq: 2, last_seq: 3 } as const;

// Tags: field number << 3 | 0 (varint).
const COUNT = 0x08;
const FIRST_SEQ = 0x10;
const LAST_SEQ = 0x18;

/** Bytes of a field holding a non-negative integer: none for 0, else its tag and varint. */
function fieldSize(value: number): number {
  if (value === 0) return 0;
  let size = 2;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeField(bytes: Uint8Array, at: number, tag: number, value: number): number {
  if (value === 0) return at;
  bytes[at++] = tag;
  while (value >= 128) {
    bytes[at++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  bytes[at++] = value;
  return at;
}

/** The response of a write, as toBinary writes it (proto3 leaves zero fields out). Counts and seqs are non-negative safe integers. */
export function encodeWriteResponse<S extends typeof AppendResponseSchema | typeof ReplaceResponseSchema>(
  schema: S,
  count: number,
  firstSeq: number,
  lastSeq: number,
): EncodedMessage<S> {
  const bytes = new Uint8Array(fieldSize(count) + fieldSize(firstSeq) + fieldSize(lastSeq));
  let at = writeField(bytes, 0, COUNT, count);
  at = writeField(bytes, at, FIRST_SEQ, firstSeq);
  writeField(bytes, at, LAST_SEQ, lastSeq);
  return new EncodedMessage(schema, bytes);
}
