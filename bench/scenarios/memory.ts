import { encodeStoredMessage } from "../../src/store/message-codec.js";
import { createChatMemoryClient } from "../../clients/typescript/src/index.js";
import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench } from "../lib/bench.js";
import { usedMemoryBytes } from "../lib/redis-stats.js";
import type { MemoryPerMessage } from "../lib/results.js";
import { log } from "../lib/settings.js";
import { round } from "../lib/stats.js";
import { MESSAGE_CONTENT } from "../lib/workload.js";

/** Redis used_memory growth per stored message, for conversations of 20 messages written through the server. */
export async function memoryPerMessage(bench: Bench, server: ServerProcess): Promise<MemoryPerMessage> {
  const conversations = 500;
  const perConversation = 20;
  const client = createChatMemoryClient({ address: server.address, defaultDeadlineMs: 30_000 });
  const before = await usedMemoryBytes(bench.redisClient);
  try {
    for (let start = 0; start < conversations; start += 25) {
      await Promise.all(
        Array.from({ length: 25 }, (_, offset) =>
          client.append({
            conversationId: `bench-memory-${start + offset}`,
            messages: Array.from({ length: perConversation }, () => ({ role: "user", content: MESSAGE_CONTENT })),
          }),
        ),
      );
    }
  } finally {
    client.close();
  }
  const after = await usedMemoryBytes(bench.redisClient);
  const messages = conversations * perConversation;
  const result: MemoryPerMessage = {
    messages,
    conversations,
    elementBytes: Buffer.byteLength(encodeStoredMessage({ role: "user", content: MESSAGE_CONTENT, createdAtMs: Date.now() })),
    usedMemoryDeltaBytes: after - before,
    bytesPerMessage: round((after - before) / messages, 1),
  };
  log(`redis memory: ${result.bytesPerMessage} B per stored message (element ${result.elementBytes} B)`);
  return result;
}
