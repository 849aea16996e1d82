import type { ServerProcess } from "../../test/helpers/server-process.js";
import type { Bench } from "../lib/bench.js";
import { NODE_LOAD, runProcess, settings } from "../lib/settings.js";
import { baseline } from "./baseline.js";

/** The TypeScript client end to end: the latency a Node caller sees (the generator saturates first). */
export async function nodeClientRuns(bench: Bench, server: ServerProcess): Promise<void> {
  for (const concurrency of settings.concurrencies) {
    for (const [mode, name, conversationId] of [
      ["client-append", "Node TS client: Append", "bench-append-redis"],
      ["client-history", "Node TS client: GetHistory(40)", "bench-history-40"],
    ] as const) {
      await runProcess(process.execPath, [NODE_LOAD, mode, server.address, String(concurrency), "1", conversationId]);
      await baseline(
        bench,
        name,
        concurrency,
        process.execPath,
        [NODE_LOAD, mode, server.address, String(concurrency), String(settings.baselineS), conversationId],
        // Both RPCs are one Lua script each in Redis (the read returns pinned messages, window and epoch).
        { commands: ["evalsha", "eval"] },
        server,
      );
    }
  }
}
