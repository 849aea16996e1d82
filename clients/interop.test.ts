/**
 * Polyglot interop in one run: a message appended through one language's generated client is
 * read back identically — every field, unicode, metadata and created_at to the nanosecond — by
 * the Go, Python and TypeScript clients, for each of the three as the writer.
 *
 * scripts/test-clients.sh provides a live server (CHATMEMORY_ADDRESS), the built Go helper
 * (CHATMEMORY_GO_INTEROP, from clients/go/interop) and a Python with the package installed
 * (CHATMEMORY_PYTHON, running clients/python/interop.py).
 */
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, describe, expect, it } from "vitest";
import type { JsonObject } from "@bufbuild/protobuf";
import { createChatMemoryClient } from "./typescript/src/index.js";

function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the interop test with npm run test:clients`);
  return value;
}

const address = requiredEnv("CHATMEMORY_ADDRESS");
const goInterop = requiredEnv("CHATMEMORY_GO_INTEROP");
const python = requiredEnv("CHATMEMORY_PYTHON");
const pythonInterop = fileURLToPath(new URL("python/interop.py", import.meta.url));
const client = createChatMemoryClient({ address });
afterAll(() => client.close());

/** A message as every interop helper prints it: the proto's field names, created_at as seconds + nanos. */
interface WireMessage {
  role: string;
  content: string;
  name: string;
  tool_call_id: string;
  metadata: Record<string, string>;
  tool_calls: { id: string; type: string; name: string; arguments: string }[];
  id: string;
  extra: JsonObject;
  created_at: { seconds: number; nanos: number } | null;
}
type Sent = Omit<WireMessage, "created_at">;

type Language = "go" | "python" | "typescript";
const LANGUAGES: Language[] = ["go", "python", "typescript"];

/** Runs a helper process: `append` takes the message as JSON on stdin; both print JSON. */
function runHelper(language: "go" | "python", args: string[], input?: string): unknown {
  const [command, prefix] = language === "go" ? [goInterop, []] : [python, [pythonInterop]];
  const output = execFileSync(command, [...prefix, ...args], { input, env: { ...process.env, CHATMEMORY_ADDRESS: address }, encoding: "utf8" });
  return JSON.parse(output);
}

async function append(language: Language, conversationId: string, message: Sent): Promise<bigint> {
  if (language === "typescript") {
    const { name, tool_call_id: toolCallId, tool_calls: toolCalls, ...rest } = message;
    return (await client.append({ conversationId, messages: [{ ...rest, name, toolCallId, toolCalls }] })).count;
  }
  const { count } = runHelper(language, ["append", conversationId], JSON.stringify(message)) as { count: number };
  return BigInt(count);
}

async function read(language: Language, conversationId: string): Promise<WireMessage[]> {
  if (language !== "typescript") return runHelper(language, ["read", conversationId]) as WireMessage[];
  const { messages } = await client.getHistory({ conversationId });
  return messages.map((m) => ({
    role: m.role,
    content: m.content,
    name: m.name,
    tool_call_id: m.toolCallId,
    metadata: { ...m.metadata },
    tool_calls: m.toolCalls.map(({ id, type, name, arguments: args }) => ({ id, type, name, arguments: args })),
    id: m.id,
    extra: m.extra ?? {},
    created_at: m.createdAt ? { seconds: Number(m.createdAt.seconds), nanos: m.createdAt.nanos } : null,
  }));
}

/** Text that breaks careless encoders: emoji (ZWJ sequence, skin tone), CJK, combining vs precomposed, RTL, escapes, NUL. */
function trickyMessage(writer: Language): Sent {
  return {
    role: "assistant",
    content: `from ${writer}: 👩🏽‍💻 🚀 漢字 かな 한국어, e\u0301 ≠ \u00e9, עברית, "quotes" \\ back\\slash\n\ttab, NUL\u0000end`,
    name: `${writer}-bot`,
    tool_call_id: `call_${writer}_1`,
    metadata: { writer, "ключ": "значение 🎉", "e\u0301": "combining key", "\u00e9": "precomposed key", empty: "" },
    tool_calls: [
      { id: `call_${writer}_1`, type: "function", name: "lookup", arguments: '{"q": "漢字 👩🏽‍💻", "n": 2}' },
      { id: `call_${writer}_2`, type: "custom", name: "grep", arguments: "free text\u0000" },
    ],
    id: `msg-${writer}`,
    extra: { writer, usage: { input_tokens: 12, ratio: 0.25 }, parts: [{ type: "text", text: "ключ 🎉" }, null, true, "x"], empty: {} },
  };
}

const uniqueId = (label: string) => `interop-${label}-${Date.now()}-${Math.random().toString(36).slice(2)}`;

describe.each(LANGUAGES)("a message appended by the %s client", (writer) => {
  it("is read back identically by the Go, Python and TypeScript clients", async () => {
    const conversationId = uniqueId(writer);
    const sent = trickyMessage(writer);
    const before = Date.now();
    expect(await append(writer, conversationId, sent)).toBe(1n);

    const readings = await Promise.all(LANGUAGES.map(async (reader) => [reader, await read(reader, conversationId)] as const));
    const [, first] = readings[0] ?? [];
    const createdAt = first?.[0]?.created_at;
    expect(createdAt, "created_at is set by the server").not.toBeNull();
    if (!createdAt) return;
    expect(createdAt.nanos % 1_000_000, "created_at has millisecond precision").toBe(0);
    const createdMs = timestampDate({ $typeName: "google.protobuf.Timestamp", seconds: BigInt(createdAt.seconds), nanos: createdAt.nanos }).getTime();
    expect(createdMs).toBeGreaterThanOrEqual(before - 1000);
    expect(createdMs).toBeLessThanOrEqual(Date.now() + 1000);
    for (const [reader, messages] of readings) {
      expect(messages, `${reader} reading what ${writer} wrote`).toEqual([{ ...sent, created_at: createdAt }]);
    }
  });
});

it("a Go watcher sees a Python append as it happens", async () => {
  const conversationId = uniqueId("watch");
  const watcher = spawn(goInterop, ["watch", conversationId, "2"], { env: { ...process.env, CHATMEMORY_ADDRESS: address } });
  const lines = createInterface({ input: watcher.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => watcher.once("exit", resolve));
  try {
    // The first response comes at once: the conversation holds nothing yet.
    expect(JSON.parse((await lines.next()).value as string)).toEqual({ reset: false, epoch: "", messages: [] });
    await append("python", conversationId, trickyMessage("python"));
    const seen = JSON.parse((await lines.next()).value as string) as { reset: boolean; epoch: string; messages: unknown[] };
    expect(seen).toMatchObject({ reset: false, messages: [{ seq: 1, role: "assistant", content: trickyMessage("python").content }] });
    expect(seen.epoch).toBe((await client.getHistory({ conversationId })).epoch);
    expect(await exited).toBe(0);
  } finally {
    watcher.kill();
  }
});

it("a conversation written by all three in turn reads the same, in order, from each", async () => {
  const conversationId = uniqueId("mixed");
  for (const [i, writer] of LANGUAGES.entries()) {
    expect(await append(writer, conversationId, trickyMessage(writer))).toBe(BigInt(i + 1));
  }
  const readings = await Promise.all(LANGUAGES.map((reader) => read(reader, conversationId)));
  expect(readings[0]?.map((m) => m.name)).toEqual(["go-bot", "python-bot", "typescript-bot"]);
  expect(readings[1]).toEqual(readings[0]);
  expect(readings[2]).toEqual(readings[0]);
});
