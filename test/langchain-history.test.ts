/**
 * The LangChain.js adapter (`chatmemory-client/langchain`) against a live server on a real Redis:
 * every message class round-trips equal under LangChain's own serializer, each message is stored
 * as the element docs/adapters.md specifies (the fixture Python's adapter is held to as well),
 * RunnableWithMessageHistory drives a multi-turn conversation with tool calls through the
 * framework's fake chat model, one turn is one Append, and a retried addMessages after UNAVAILABLE
 * stores nothing twice.
 */
import { readFileSync } from "node:fs";
import { fromJson, type JsonObject, toJson } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { ChatPromptTemplate, MessagesPlaceholder } from "@langchain/core/prompts";
import {
  AIMessage,
  AIMessageChunk,
  type BaseMessage,
  ChatMessage,
  FunctionMessage,
  HumanMessage,
  mapChatMessagesToStoredMessages,
  mapStoredMessagesToChatMessages,
  type StoredMessage,
  SystemMessage,
  ToolMessage,
} from "@langchain/core/messages";
import { RunnableWithMessageHistory } from "@langchain/core/runnables";
import { fakeModel } from "@langchain/core/testing";
import { tool } from "@langchain/core/tools";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { type Message, MessageSchema } from "../clients/typescript/src/index.js";
import { ChatMemoryMessageHistory } from "../clients/typescript/src/langchain/index.js";
import { ServerMetrics } from "../src/metrics/server-metrics.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { startTestServer, statusOf, type TestServer, uniqueId, waitFor } from "./helpers/test-server.js";

interface FixtureEntry {
  message: { type: string; data: Record<string, unknown> };
  element: JsonObject;
}
const FIXTURE = (
  JSON.parse(readFileSync(new URL("fixtures/langchain-conversation.json", import.meta.url), "utf8")) as { conversation: FixtureEntry[] }
).conversation;

/** The fixture's messages as LangChain.js builds them (it calls Python's `chat` type `generic`). */
function fixtureMessages(): BaseMessage[] {
  return mapStoredMessagesToChatMessages(
    FIXTURE.map(({ message }) => ({ type: message.type === "chat" ? "generic" : message.type, data: message.data }) as unknown as StoredMessage),
  );
}

/** A stored element as the fixture writes it: proto JSON without the server's output-only fields. */
function asFixtureElement(message: Message): JsonObject {
  const { seq: _seq, createdAt: _createdAt, tokenCount: _tokenCount, pinned: _pinned, ...rest } = toJson(MessageSchema, message) as JsonObject;
  return rest;
}

const serialized = (messages: BaseMessage[]) => mapChatMessagesToStoredMessages(messages);

let redis: RedisServerProcess;
let server: TestServer;
let metrics: ServerMetrics;
const histories: ChatMemoryMessageHistory[] = [];

function history(conversationId = uniqueId("lc"), options: Partial<ConstructorParameters<typeof ChatMemoryMessageHistory>[0]> = {}) {
  const created = new ChatMemoryMessageHistory({ conversationId, address: server.address, ...options });
  histories.push(created);
  return created;
}

/** Append RPCs the server has started so far. */
async function appendsStarted(): Promise<number> {
  const counter = await metrics.registry.getSingleMetric("grpc_server_started_total")?.get();
  return counter?.values.find((value) => value.labels.grpc_method === "Append")?.value ?? 0;
}

beforeAll(async () => {
  // Its own Redis: the retry test freezes it.
  redis = await RedisServerProcess.start();
  metrics = new ServerMetrics({ serving: () => true, inFlight: () => 0 });
  server = await startTestServer({ store: "redis", redisUrl: redis.url, redisTimeoutMs: 300, maxTurns: 100, metrics });
});
afterAll(async () => {
  for (const created of histories) created.close();
  await server?.close();
  await redis?.stop();
});

describe("ChatMemoryMessageHistory: the element mapping", () => {
  it("round-trips every message class equal under mapChatMessagesToStoredMessages", async () => {
    const messages = [
      ...fixtureMessages(),
      // JS-only cases: an id the server's id rule refuses, a tool call without an id, a function
      // message, a tool message without status, a named human, a custom-role chat message.
      new AIMessage({ content: "x", id: "run with spaces", tool_calls: [{ name: "lookup", args: { q: 1 }, type: "tool_call" }] }),
      new FunctionMessage({ content: "{\"ok\":true}", name: "legacy_fn" }),
      new ToolMessage({ content: "done", tool_call_id: "call_9" }),
      new HumanMessage({ content: "hi", name: "alice", additional_kwargs: { nested: { a: [1, 2.5, null, "s"] } } }),
      new ChatMessage({ content: "c", role: "tool" }),
      new SystemMessage({ content: [{ type: "text", text: "parts" }] }),
    ];
    const memory = history();
    await memory.addMessages(messages);
    const read = await memory.getMessages();
    expect(serialized(read)).toEqual(serialized(messages));
    expect(read.map((message) => message.constructor.name)).toEqual(messages.map((message) => message.constructor.name));
  });

  it("stores each message as the element docs/adapters.md specifies (the shared fixture)", async () => {
    const memory = history();
    await memory.addMessages(fixtureMessages());
    const { messages } = await server.client.getHistory({ conversationId: memory.conversationId });
    expect(messages.map(asFixtureElement)).toEqual(FIXTURE.map(({ element }) => element));
  });

  it("reads the fixture's elements, appended by a plain client (as Python's adapter writes them), as the fixture's messages", async () => {
    const memory = history();
    await server.client.append({ conversationId: memory.conversationId, messages: FIXTURE.map(({ element }) => fromJson(MessageSchema, element)) });
    expect(serialized(await memory.getMessages())).toEqual(serialized(fixtureMessages()));
  });

  it("reads elements without LangChain fields by their role", async () => {
    const memory = history();
    await server.client.append({
      conversationId: memory.conversationId,
      messages: [
        { role: "developer", content: "rules" },
        { role: "user", content: "q", name: "bob" },
        { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{\"a\":1}" }, { id: "c2", name: "g", arguments: "not json" }] },
        { role: "tool", content: "r", toolCallId: "c1" },
      ],
    });
    expect(serialized(await memory.getMessages())).toEqual(
      serialized([
        new SystemMessage({ content: "rules", additional_kwargs: { __openai_role__: "developer" } }),
        new HumanMessage({ content: "q", name: "bob" }),
        new AIMessage({
          content: "",
          tool_calls: [{ name: "f", args: { a: 1 }, id: "c1", type: "tool_call" }],
          invalid_tool_calls: [{ name: "g", args: "not json", id: "c2", type: "invalid_tool_call" }],
        }),
        new ToolMessage({ content: "r", tool_call_id: "c1" }),
      ]),
    );
  });

  it("stores a chunk as its message class", async () => {
    const memory = history();
    await memory.addMessage(new AIMessageChunk({ content: "partial", id: "chunk-1" }));
    const [read] = await memory.getMessages();
    expect(read).toBeInstanceOf(AIMessage);
    expect(serialized([read!])).toEqual(serialized([new AIMessage({ content: "partial", id: "chunk-1" })]));
  });
});

describe("ChatMemoryMessageHistory: the history", () => {
  it("appends each addMessages batch in one Append, never interleaved with a concurrent writer's", async () => {
    const conversationId = uniqueId("lc");
    const [a, b] = [history(conversationId), history(conversationId)];
    const batch = (writer: string, index: number) => Array.from({ length: 5 }, (_, i) => new HumanMessage(`${writer}${index}.${i}`));
    const before = await appendsStarted();
    await Promise.all([a, b].flatMap((memory, writer) => Array.from({ length: 8 }, (_, index) => memory.addMessages(batch("ab"[writer]!, index)))));
    expect((await appendsStarted()) - before).toBe(16);
    const contents = (await a.getMessages()).map((message) => message.text);
    expect(contents).toHaveLength(80);
    for (let start = 0; start < 80; start += 5) {
      const prefix = contents[start]!.split(".")[0];
      expect(contents.slice(start, start + 5)).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}.${i}`));
    }
  });

  it("clears the conversation, which can be written again at once", async () => {
    const memory = history();
    await memory.addUserMessage("one");
    await memory.clear();
    expect(await memory.getMessages()).toEqual([]);
    await memory.addAIMessage("two");
    expect((await memory.getMessages()).map((message) => message.text)).toEqual(["two"]);
  });

  it("gives the conversation its own TTL (ttlMs)", async () => {
    const memory = history(uniqueId("lc"), { ttlMs: 300 });
    await memory.addUserMessage("short-lived");
    expect(await memory.getMessages()).toHaveLength(1);
    await waitFor(async () => (await memory.getMessages()).length === 0, 5000, 50);
  });

  it("returns the newest `limit` messages when asked", async () => {
    const conversationId = uniqueId("lc");
    await history(conversationId).addMessages(["1", "2", "3", "4"].map((text) => new HumanMessage(text)));
    expect((await history(conversationId, { limit: 2 }).getMessages()).map((message) => message.text)).toEqual(["3", "4"]);
  });

  it("rejects a bad conversation id with INVALID_ARGUMENT naming it, storing nothing", async () => {
    const rejected = await statusOf(history("bad id").addMessages([new HumanMessage("x")]));
    expect(status[rejected.code]).toBe("INVALID_ARGUMENT");
    expect(rejected.details).toMatch(/^conversation_id/);
  });

  it("refuses a message type it cannot store, before calling the server", async () => {
    const { RemoveMessage } = await import("@langchain/core/messages");
    const memory = history();
    await expect(memory.addMessages([new HumanMessage("kept?"), new RemoveMessage({ id: "x" })])).rejects.toThrow(/type "remove"/);
    expect(await memory.getMessages()).toEqual([]);
  });
});

describe("ChatMemoryMessageHistory under RunnableWithMessageHistory", () => {
  it("keeps a multi-turn conversation with tool calls, one Append per turn", async () => {
    const getWeather = tool(async ({ city }: { city: string }) => `${city}: 18 °C`, {
      name: "get_weather",
      description: "Current weather of a city",
      schema: z.object({ city: z.string() }),
    });
    const model = fakeModel()
      .respondWithTools([{ name: "get_weather", args: { city: "Paris" }, id: "call_paris" }])
      .respond(new AIMessage({ content: "Paris: 18 °C.", id: "ai-2", usage_metadata: { input_tokens: 9, output_tokens: 4, total_tokens: 13 } }))
      .respond((messages) => new AIMessage(`You asked ${messages.filter((message) => message.type === "human").length} questions.`));
    const prompt = ChatPromptTemplate.fromMessages([
      ["system", "You answer weather questions."],
      new MessagesPlaceholder("history"),
      new MessagesPlaceholder("input"),
    ]);
    const conversationId = uniqueId("lc");
    const chain = new RunnableWithMessageHistory({
      runnable: prompt.pipe(model.bindTools([getWeather])),
      getMessageHistory: (sessionId: string) => history(sessionId),
      inputMessagesKey: "input",
      historyMessagesKey: "history",
    });
    const config = { configurable: { sessionId: conversationId } };
    const before = await appendsStarted();

    const question = new HumanMessage({ content: "Weather in Paris?", id: "q-1" });
    const call = (await chain.invoke({ input: [question] }, config)) as AIMessage;
    expect(call.tool_calls).toHaveLength(1);
    const result = (await getWeather.invoke({ ...call.tool_calls![0]!, type: "tool_call" })) as ToolMessage;
    const answer = await chain.invoke({ input: [result] }, config);
    const followUp = new HumanMessage("How many questions did I ask?");
    const last = await chain.invoke({ input: [followUp] }, config);

    expect(last.text).toBe("You asked 2 questions.");
    expect((await appendsStarted()) - before).toBe(3);
    const stored = await history(conversationId).getMessages();
    expect(serialized(stored)).toEqual(serialized([question, call, result, answer, followUp, last]));
    // The model's third call saw the system prompt, then everything stored before it.
    expect(serialized(model.calls[2]!.messages.slice(1))).toEqual(serialized([question, call, result, answer, followUp]));
  });
});

describe("ChatMemoryMessageHistory: retries", () => {
  it("a retried addMessages after UNAVAILABLE stores nothing twice, though the failed attempt reached Redis", async () => {
    const memory = history(uniqueId("lc"), { deadlineMs: 10_000 });
    const turn = [new HumanMessage("retry me"), new AIMessage({ content: "ok", id: "ai-retry" })];
    redis.pause();
    let failed: { code: number };
    try {
      // Every attempt (the client retries UNAVAILABLE 4 times, with the same request id) is
      // queued in the frozen Redis and times out in the server: UNAVAILABLE.
      failed = await statusOf(memory.addMessages(turn));
    } finally {
      redis.resume();
    }
    expect(status[failed.code]).toBe("UNAVAILABLE");
    // Redis ran the queued attempts once it woke: the failed call did store the turn, once.
    await waitFor(async () => (await server.client.count({ conversationId: memory.conversationId })).count === 2n, 5000);

    await memory.addMessages(turn); // the application's retry: the same batch, so the same request id
    expect(serialized(await memory.getMessages())).toEqual(serialized(turn));

    // After a success the batch is new again: the same words said twice are stored twice.
    await memory.addMessages(turn);
    expect(await memory.getMessages()).toHaveLength(4);
  });

  it("an explicit requestId makes addMessages idempotent across history instances", async () => {
    const conversationId = uniqueId("lc");
    const turn = [new HumanMessage("once"), new AIMessage("only once")];
    await history(conversationId).addMessages(turn, { requestId: "turn-1" });
    await history(conversationId).addMessages(turn, { requestId: "turn-1" });
    expect(serialized(await history(conversationId).getMessages())).toEqual(serialized(turn));
  });
});
