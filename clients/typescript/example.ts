/**
 * The TypeScript client example of docs/clients.md, as another project runs it: scripts/test-clients.sh
 * installs the packed `chatmemory-client` package into a scratch project, type-checks this file
 * against the package's `exports` and runs it against $CHATMEMORY_ADDRESS.
 */
import { type ChatMemoryCallError, createChatMemoryClient, status, timestampDate } from "chatmemory-client";

const memory = createChatMemoryClient({ address: process.env.CHATMEMORY_ADDRESS ?? "127.0.0.1:50051" });
const conversationId = `ts-example-${Date.now()}`;

const { count } = await memory.append({
  conversationId,
  requestId: crypto.randomUUID(), // idempotency key: a retry of this append stores nothing new
  messages: [
    { role: "user", content: "What is the capital of France?" },
    { role: "assistant", content: "Paris.", metadata: { model: "m1" } },
  ],
});
console.log("count after append:", count); // a bigint: 2n

const { messages } = await memory.getHistory({ conversationId, limit: 10 });
for (const { role, content, createdAt } of messages) {
  console.log(`${role}: ${content} (at ${createdAt ? timestampDate(createdAt).toISOString() : "?"})`);
}

try {
  await memory.append({ conversationId: "bad id", messages: [] });
} catch (error) {
  const { code, details } = error as ChatMemoryCallError;
  if (code !== status.INVALID_ARGUMENT) throw error;
  console.log("rejected:", status[code], details);
}

console.log("count:", (await memory.count({ conversationId }, { deadlineMs: 500 })).count);
console.log("cleared:", (await memory.clear({ conversationId })).deleted);
memory.close();
