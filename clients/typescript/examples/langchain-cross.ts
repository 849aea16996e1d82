/**
 * The JavaScript half of the LangChain cross-language check (clients/python/langchain_cross.py is
 * the Python half; scripts/test-clients.sh runs both against the live server at
 * $CHATMEMORY_ADDRESS, from the scratch project that installed the packed chatmemory-client).
 * Each language compares with its own serializer (here `mapChatMessagesToStoredMessages`):
 *
 *   node langchain-cross.ts write ID DUMP.json   writes CONVERSATION to ID, its StoredMessages to DUMP.json
 *   node langchain-cross.ts check ID DUMP.json   reads ID; exit 1 unless it equals DUMP.json
 *   node langchain-cross.ts copy SRC DST         reads SRC and appends it to DST in one addMessages
 */
import { readFileSync, writeFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import {
  AIMessage,
  type BaseMessage,
  ChatMessage,
  HumanMessage,
  mapChatMessagesToStoredMessages,
  SystemMessage,
  ToolMessage,
} from "@langchain/core/messages";
import { ChatMemoryMessageHistory } from "chatmemory-client/langchain";

/** Every class and field LangChain.js messages carry. Tool messages set `status`: Python always has one. */
const CONVERSATION: BaseMessage[] = [
  new SystemMessage({ content: "You answer weather questions.", id: "sys-1" }),
  new SystemMessage({ content: "Be brief.", additional_kwargs: { __openai_role__: "developer" } }),
  new HumanMessage({ content: "Weather in Zürich? 🗼", id: "h-1", name: "alice", additional_kwargs: { client: "web" } }),
  new HumanMessage({
    content: [
      { type: "text", text: "And this sky?" },
      { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
    ],
  }),
  new AIMessage({
    content: "",
    id: "run-1",
    tool_calls: [
      { name: "get_weather", args: { city: "Zürich", days: 2, ratio: 1.5, nested: { list: [1, null, true] } }, id: "call_1", type: "tool_call" },
    ],
    response_metadata: { model_name: "fake", finish_reason: "tool_calls" },
    usage_metadata: { input_tokens: 31, output_tokens: 12, total_tokens: 43, input_token_details: { cache_read: 0 } },
  }),
  new ToolMessage({ content: "18 °C", tool_call_id: "call_1", name: "get_weather", status: "success", artifact: { raw: [18, "sunny"] }, metadata: { from: "js" } }),
  new AIMessage({
    content: [{ type: "text", text: "Zürich: 18 °C." }],
    id: "run-2",
    invalid_tool_calls: [{ name: "get_forecast", args: '{"city":', id: "call_2", error: "truncated JSON", type: "invalid_tool_call" }],
  }),
  new ToolMessage({ content: "station offline", tool_call_id: "call_3", status: "error" }),
  new AIMessage({ content: "a call without an id", tool_calls: [{ name: "lookup", args: { q: "x" }, type: "tool_call" }] }),
  new ChatMessage({ content: "Cite the station next time.", role: "critic" }),
  new ChatMessage({ content: "Noted.", role: "assistant", name: "reviewer", id: "an id with spaces" }),
];

/** The serializer's form, as JSON would carry it (undefined fields left out). */
function serialized(messages: BaseMessage[]): unknown {
  return JSON.parse(JSON.stringify(mapChatMessagesToStoredMessages(messages)));
}

function history(conversationId: string): ChatMemoryMessageHistory {
  return new ChatMemoryMessageHistory({ conversationId, address: process.env.CHATMEMORY_ADDRESS ?? "127.0.0.1:50051" });
}

const [command, first, second] = process.argv.slice(2);
if (command === undefined || first === undefined || second === undefined) {
  console.error("usage: node langchain-cross.ts write|check ID DUMP.json | copy SRC DST");
  process.exit(2);
}
if (command === "write") {
  const target = history(first);
  await target.addMessages(CONVERSATION);
  target.close();
  writeFileSync(second, JSON.stringify(serialized(CONVERSATION)));
  console.log(`js wrote ${CONVERSATION.length} messages to ${first}`);
} else if (command === "copy") {
  const source = history(first);
  const target = history(second);
  const messages = await source.getMessages();
  await target.addMessages(messages);
  source.close();
  target.close();
  console.log(`js copied ${messages.length} messages from ${first} to ${second}`);
} else if (command === "check") {
  const source = history(first);
  const read = serialized(await source.getMessages()) as unknown[];
  source.close();
  const expected = JSON.parse(readFileSync(second, "utf8")) as unknown[];
  if (isDeepStrictEqual(read, expected)) {
    console.log(`js read ${read.length} messages from ${first}: equal under mapChatMessagesToStoredMessages`);
  } else {
    console.log(`js read ${first}: ${read.length} messages, expected ${expected.length}; first difference:`);
    const index = read.findIndex((message, i) => !isDeepStrictEqual(message, expected[i]));
    console.log("  got:     ", JSON.stringify(read[index]));
    console.log("  expected:", JSON.stringify(expected[index]));
    process.exitCode = 1;
  }
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
