/**
 * google.protobuf.Value fields that set no kind. protobuf-es decodes a Struct
 * field into a plain JSON object, where such a Value reads as null, so the
 * service cannot tell it from an explicit null_value; the contract makes it
 * INVALID_ARGUMENT. This walks the request's bytes with its schema, but only
 * when the decoded request holds a null inside a Struct field (the only way a
 * kindless Value shows), so requests without one pay a cheap object walk.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

const STRUCT = "google.protobuf.Struct";

type MessageField = DescField & { message: DescMessage };
const fieldsBySchema = new WeakMap<DescMessage, Map<number, MessageField>>();
const reachesStructBySchema = new WeakMap<DescMessage, boolean>();

/** The message fields of `schema` (singular or repeated), by number; worked out once per schema. */
function messageFields(schema: DescMessage): Map<number, MessageField> {
  let fields = fieldsBySchema.get(schema);
  if (fields === undefined) {
    fields = new Map();
    for (const field of schema.fields) {
      if ((field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message")) && field.message) {
        fields.set(field.number, field as MessageField);
      }
    }
    fieldsBySchema.set(schema, fields);
  }
  return fields;
}

/** Whether any message field of `schema`, at any depth, is a Struct (most requests have none: nothing to check). */
function reachesStruct(schema: DescMessage, visiting = new Set<DescMessage>()): boolean {
  const known = reachesStructBySchema.get(schema);
  if (known !== undefined) return known;
  visiting.add(schema);
  let reaches = false;
  for (const field of messageFields(schema).values()) {
    if (field.message.typeName === STRUCT || (!visiting.has(field.message) && reachesStruct(field.message, visiting))) reaches = true;
  }
  reachesStructBySchema.set(schema, reaches);
  return reaches;
}

/** Whether a decoded JSON value holds a null anywhere. */
function holdsNull(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value !== "object") return false;
  return Object.values(value as object).some(holdsNull);
}

const structFieldsBySchema = new WeakMap<DescMessage, MessageField[]>();

/** The message fields of `schema` that are a Struct or reach one; worked out once per schema. */
function structFields(schema: DescMessage): MessageField[] {
  let fields = structFieldsBySchema.get(schema);
  if (fields === undefined) {
    fields = [...messageFields(schema).values()].filter((field) => field.message.typeName === STRUCT || reachesStruct(field.message));
    structFieldsBySchema.set(schema, fields);
  }
  return fields;
}

/** Whether a decoded message holds a null inside any Struct field, at any depth. */
function structHoldsNull(schema: DescMessage, message: Record<string, unknown>, depth = 0): boolean {
  if (depth > 32) return false;
  for (const field of structFields(schema)) {
    const value = message[field.localName];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value) if (fieldHoldsNull(field, item, depth)) return true;
    } else if (fieldHoldsNull(field, value, depth)) {
      return true;
    }
  }
  return false;
}

/** One value of a field that is a Struct or reaches one (a plain function: no closure per field and call). */
function fieldHoldsNull(field: MessageField, value: unknown, depth: number): boolean {
  return field.message.typeName === STRUCT ? holdsNull(value) : structHoldsNull(field.message, value as Record<string, unknown>, depth + 1);
}

/** A Value's bytes: does it set a kind (fields 1..6), and do the Structs and lists inside it too? */
function valueComplete(bytes: Uint8Array): boolean {
  const reader = new BinaryReader(bytes);
  let kind = false;
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number >= 1 && number <= 6) kind = true;
    if (number === 5 && wireType === WireType.LengthDelimited) {
      if (!structComplete(reader.bytes())) return false;
    } else if (number === 6 && wireType === WireType.LengthDelimited) {
      // ListValue: repeated Value values = 1.
      const list = new BinaryReader(reader.bytes());
      while (list.pos < list.len) {
        const [item, itemType] = list.tag();
        if (item === 1 && itemType === WireType.LengthDelimited) {
          if (!valueComplete(list.bytes())) return false;
        } else list.skip(itemType);
      }
    } else reader.skip(wireType);
  }
  return kind;
}

/** A Struct's bytes: map<string, Value> fields = 1; an entry without a value is a Value with no kind. */
function structComplete(bytes: Uint8Array): boolean {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number !== 1 || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    const entry = new BinaryReader(reader.bytes());
    let complete = false;
    while (entry.pos < entry.len) {
      const [part, partType] = entry.tag();
      if (part === 2 && partType === WireType.LengthDelimited) complete = valueComplete(entry.bytes());
      else entry.skip(partType);
    }
    if (!complete) return false;
  }
  return true;
}

/** The path (e.g. `messages[2].extra`) of the first Struct field in `bytes` holding a Value with no kind. */
function kindlessPath(schema: DescMessage, bytes: Uint8Array, prefix: string, depth: number): string | undefined {
  if (depth > 32) return undefined;
  const fields = messageFields(schema);
  const seen = new Map<number, number>();
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    const field = fields.get(number);
    if (!field || wireType !== WireType.LengthDelimited) {
      reader.skip(wireType);
      continue;
    }
    const index = seen.get(number) ?? 0;
    seen.set(number, index + 1);
    const path = `${prefix}${field.name}${field.fieldKind === "list" ? `[${index}]` : ""}`;
    const nested = reader.bytes();
    if (field.message.typeName === STRUCT) {
      if (!structComplete(nested)) return path;
    } else {
      const found = kindlessPath(field.message, nested, `${path}.`, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** The field holding a google.protobuf.Value with no kind in a decoded request and its bytes; undefined when none does. */
export function findKindlessValue(schema: DescMessage, message: unknown, bytes: Uint8Array): string | undefined {
  if (!reachesStruct(schema) || !structHoldsNull(schema, message as Record<string, unknown>)) return undefined;
  return kindlessPath(schema, bytes, "", 0);
}
