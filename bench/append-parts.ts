/**
 * Append's per-call parts on their own, this build against another build's dist directory,
 * interleaved: counting the chat message's tokens (a literal, and the string fromBinary decoded),
 * tokensForAppend (with its promise hops), the handler's way to the counts (tokensForAppendNow
 * where a build has it), the Struct null check of the decoded request, and the AppendResponse
 * (protobuf-es create + toBinary, as before, against the hand encoder). Fastest and median of 25 rounds, wall time
 * (bench/notes.md, sixth round).
 *
 *   node dist-bench/bench/append-parts.js <other build's dist dir>
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AppendRequestSchema, AppendResponseSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { findKindlessValue } from "../src/grpc/struct-kinds.js";
import { tokensForAppend, tokensForAppendNow } from "../src/service/token-budget.js";
import { encodeWriteResponse } from "../src/service/write-response.js";
import { countTokens, createTokenCounter } from "../src/tokens/token-counter.js";
import { CHAT_MESSAGE } from "../test/helpers/token-texts.js";

const otherDist = process.argv[2];
if (!otherDist) throw new Error("usage: append-parts.js <other build's dist dir>");
const load = async <T>(path: string) => (await import(pathToFileURL(resolve(otherDist, path)).href)) as T;
const other = {
  tokens: await load<{ countTokens: typeof countTokens }>("src/tokens/count-tokens.js"),
  budget: await load<{ tokensForAppend: typeof tokensForAppend }>("src/service/token-budget.js"),
  counter: await load<{ createTokenCounter: typeof createTokenCounter }>("src/tokens/token-counter.js"),
  kinds: await load<{ findKindlessValue: typeof findKindlessValue }>("src/grpc/struct-kinds.js"),
};

const requestBytes = toBinary(AppendRequestSchema, create(AppendRequestSchema, { conversationId: "bench-append-prose", messages: [{ role: "user", content: CHAT_MESSAGE }] }));
const request = fromBinary(AppendRequestSchema, requestBytes);
const ourCounter = createTokenCounter("o200k_base");
const theirCounter = other.counter.createTokenCounter("o200k_base");

async function usPerCall(fn: () => unknown, calls: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) await fn();
  return Number(process.hrtime.bigint() - start) / calls / 1000;
}

async function compare(name: string, before: () => unknown, after: () => unknown, calls = 2000): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await usPerCall(before, calls);
    await usPerCall(after, calls);
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < 25; round++) {
    a.push(await usPerCall(before, calls));
    b.push(await usPerCall(after, calls));
  }
  a.sort((x, y) => x - y);
  b.sort((x, y) => x - y);
  const f = (v: number) => v.toFixed(2);
  process.stdout.write(`| ${name} | ${f(a[0]!)} (${f(a[12]!)}) | ${f(b[0]!)} (${f(b[12]!)}) |\n`);
}

process.stdout.write(`| part | ${otherDist}: fastest (median) µs | this build: fastest (median) µs |\n|---|---:|---:|\n`);
for (const encoding of ["o200k_base", "cl100k_base"] as const) {
  await compare(`countTokens, the chat message, ${encoding}`, () => other.tokens.countTokens(encoding, CHAT_MESSAGE), () => countTokens(encoding, CHAT_MESSAGE));
}
const content = request.messages[0]!.content;
for (const encoding of ["o200k_base", "cl100k_base"] as const) {
  await compare(`countTokens, the message as decoded from the request, ${encoding}`, () => other.tokens.countTokens(encoding, content), () => countTokens(encoding, content));
}
await compare("tokensForAppend, one message (o200k_base)", () => other.budget.tokensForAppend(theirCounter, request.messages), () => tokensForAppend(ourCounter, request.messages));
// The Append path's counts: awaited in both (as the handler does), inline without a promise where the other build has no tokensForAppendNow.
const theirTokensNow = (other.budget as { tokensForAppendNow?: typeof tokensForAppendNow }).tokensForAppendNow;
await compare(
  "the Append handler's token counts, one message (o200k_base)",
  () => theirTokensNow?.(theirCounter, request.messages) ?? other.budget.tokensForAppend(theirCounter, request.messages),
  () => tokensForAppendNow(ourCounter, request.messages) ?? tokensForAppend(ourCounter, request.messages),
);
await compare("Struct null check of the request", () => other.kinds.findKindlessValue(AppendRequestSchema, request, requestBytes), () => findKindlessValue(AppendRequestSchema, request, requestBytes));
await compare(
  "AppendResponse: create + toBinary, then by hand",
  () => toBinary(AppendResponseSchema, create(AppendResponseSchema, { count: 1000n, firstSeq: 123_456n, lastSeq: 123_456n })),
  () => encodeWriteResponse(AppendResponseSchema, 1000, 123_456, 123_456),
);
await ourCounter.close();
await theirCounter.close();
