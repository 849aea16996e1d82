/**
 * The hand-written AppendResponse / ReplaceResponse encoder against protobuf-es: for counts and
 * seqs from 0 to the largest safe integer (every varint length) it writes exactly the bytes
 * toBinary writes, and it knows every field of both generated schemas.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AppendResponseSchema, ReplaceResponseSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { ENCODED_WRITE_FIELDS, encodeWriteResponse } from "../src/service/write-response.js";

const SCHEMAS = [AppendResponseSchema, ReplaceResponseSchema] as const;

/** 0, small, every varint length's edges, and the largest safe integer. */
const anyCount = fc.oneof(
  fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: 100_000 }),
  fc.nat(),
  fc.maxSafeNat(),
);

describe("encodeWriteResponse", () => {
  for (const schema of SCHEMAS) {
    it(`writes toBinary's bytes, ${schema.typeName}`, () => {
      fc.assert(
        fc.property(anyCount, anyCount, anyCount, (count, firstSeq, lastSeq) => {
          const reference = toBinary(schema, create(schema, { count: BigInt(count), firstSeq: BigInt(firstSeq), lastSeq: BigInt(lastSeq) }));
          const encoded = encodeWriteResponse(schema, count, firstSeq, lastSeq);
          expect(encoded.schema).toBe(schema);
          expect(Buffer.from(encoded.bytes)).toEqual(Buffer.from(reference));
        }),
        { numRuns: 2000 },
      );
    });
  }

  it("writes every field of both generated schemas (a new proto field must be added to the encoder)", () => {
    for (const schema of SCHEMAS) {
      expect(Object.fromEntries(schema.fields.map((field) => [field.name, field.number])), schema.typeName).toEqual(ENCODED_WRITE_FIELDS);
    }
  });
});
