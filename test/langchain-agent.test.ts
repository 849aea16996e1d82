/**
 * clients/typescript/examples/langchain-agent.ts, run as a user runs it (Node, the built
 * `chatmemory-client/langchain` package, `langchain`'s createAgent with the fake chat model)
 * against a live server on a real Redis: two turns, each loaded from ChatMemory and appended back
 * in one Append, tool call and result included.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { ServerMetrics } from "../src/metrics/server-metrics.js";
import { startTestServer, type TestServer, uniqueId } from "./helpers/test-server.js";

const EXAMPLE = fileURLToPath(new URL("../clients/typescript/examples/langchain-agent.ts", import.meta.url));

let server: TestServer;
let metrics: ServerMetrics;

async function appendsStarted(): Promise<number> {
  const counter = await metrics.registry.getSingleMetric("grpc_server_started_total")?.get();
  return counter?.values.find((value) => value.labels.grpc_method === "Append")?.value ?? 0;
}

beforeAll(async () => {
  metrics = new ServerMetrics({ serving: () => true, inFlight: () => 0 });
  server = await startTestServer({ store: "redis", redisUrl: inject("redisUrl"), metrics });
});
afterAll(async () => {
  await server?.close();
});

it("runs a createAgent agent over two turns with its conversation in ChatMemory, one Append per turn", async () => {
  const conversationId = uniqueId("agent");
  const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE], {
    env: { ...process.env, CHATMEMORY_ADDRESS: server.address, CHATMEMORY_CONVERSATION_ID: conversationId },
    timeout: 60_000,
  });
  expect(stdout.split("\n").filter(Boolean)).toEqual([
    "turn stored: human, ai, tool, ai",
    "answer: It is 18 °C and sunny in Paris.",
    "turn stored: human, ai",
    // The model saw the first turn (4 messages) and the new question: the history was its input.
    "answer: I had 5 messages of this conversation in front of me.",
    "conversation holds 6 messages",
  ]);
  expect(await appendsStarted()).toBe(2);

  const { messages } = await server.client.getHistory({ conversationId });
  expect(messages.map(({ role, content, toolCallId, toolCalls }) => ({ role, content, toolCallId, calls: toolCalls.map((call) => [call.id, call.name, call.arguments]) }))).toEqual([
    { role: "user", content: "What's the weather in Paris?", toolCallId: "", calls: [] },
    { role: "assistant", content: expect.any(String), toolCallId: "", calls: [["call_paris", "get_weather", "{\"city\":\"Paris\"}"]] },
    { role: "tool", content: "Paris: 18 °C and sunny", toolCallId: "call_paris", calls: [] },
    { role: "assistant", content: "It is 18 °C and sunny in Paris.", toolCallId: "", calls: [] },
    { role: "user", content: "What did we talk about?", toolCallId: "", calls: [] },
    { role: "assistant", content: "I had 5 messages of this conversation in front of me.", toolCallId: "", calls: [] },
  ]);
});
