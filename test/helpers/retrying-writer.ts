/**
 * A writer for failover tests: appends numbered messages to one conversation,
 * retrying each (same request_id) until acknowledged, until stopped.
 */
import type { ChatMemoryClient } from "../../clients/typescript/src/index.js";
import { sleep } from "./test-server.js";

export interface RetryingWriter {
  /** Message numbers acknowledged so far, in order. */
  readonly acknowledged: number[];
  /** Attempts that failed and were retried. */
  readonly failures: number;
  /** Finishes the message in progress, then stops. */
  stop(): Promise<void>;
}

export function startRetryingWriter(client: ChatMemoryClient, conversationId: string): RetryingWriter {
  const acknowledged: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    for (let n = 0; running; n++) {
      for (;;) {
        try {
          await client.append({ conversationId, requestId: `m${n}`, messages: [{ role: "user", content: `${n}` }] }, { deadlineMs: 2000 });
          acknowledged.push(n);
          break;
        } catch {
          failures++;
          await sleep(50);
        }
      }
    }
  })();
  return {
    acknowledged,
    get failures() {
      return failures;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Acknowledged message numbers missing from what GetHistory returns. */
export async function lostMessages(client: ChatMemoryClient, conversationId: string, acknowledged: readonly number[]): Promise<number[]> {
  const stored = new Set((await client.getHistory({ conversationId })).messages.map((m) => Number(m.content)));
  return acknowledged.filter((n) => !stored.has(n));
}
