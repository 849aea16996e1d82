/** Baselines without the server: the Append script straight from ioredis, and the Python class. */
import { join } from "node:path";
import { encodeStoredMessage } from "../../src/store/message-codec.js";
import type { Bench } from "../lib/bench.js";
import { NODE_LOAD, PYTHON, ROOT, runProcess, settings } from "../lib/settings.js";
import { BENCH_MAX_TURNS, MESSAGE_CONTENT } from "../lib/workload.js";
import { baseline } from "./baseline.js";

export async function directBaselines(bench: Bench): Promise<void> {
  await ioredisBaselines(bench);
  await pythonBaselines(bench);
}

/** The server's Append script via EVALSHA from ioredis: the floor under Append. */
async function ioredisBaselines(bench: Bench): Promise<void> {
  for (const concurrency of settings.concurrencies) {
    await runProcess(process.execPath, [NODE_LOAD, "ioredis-append", bench.redis.url, String(concurrency), "1"]);
    await baseline(bench, "ioredis EVALSHA (Append script, no gRPC)", concurrency, process.execPath,
      [NODE_LOAD, "ioredis-append", bench.redis.url, String(concurrency), String(settings.baselineS)], { commands: ["evalsha", "eval"] });
  }
}

/** The Python chat-memory class (bench/python), with a client per call and with one reused. */
async function pythonBaselines(bench: Bench): Promise<void> {
  const python = (operation: string, mode: string, threads: number, conversationId: string) => [
    join(ROOT, "bench", "python", "load.py"), operation, mode, bench.redis.url, String(threads), String(settings.baselineS), conversationId, String(BENCH_MAX_TURNS),
  ];
  const threadCounts = [...new Set([1, Math.min(16, Math.max(...settings.concurrencies))])];
  for (const mode of ["per-call", "reused"]) {
    for (const threads of threadCounts) {
      await baseline(bench, `Python class, ${mode} client: append`, threads, PYTHON, python("append", mode, threads, `bench-python-${mode}`), { commands: ["rpush"] });
    }
  }
  if (settings.windows.includes(40)) {
    await fillDirect(bench, "bench-history-40", 40);
    for (const mode of ["per-call", "reused"]) {
      await baseline(bench, `Python class, ${mode} client: get_history(40)`, 1, PYTHON, python("history", mode, 1, "bench-history-40"), { commands: ["lrange"] });
    }
  }
}

/** Writes a conversation straight into Redis, in the server's element format. */
async function fillDirect(bench: Bench, conversationId: string, messages: number): Promise<void> {
  const key = `ractogateway:memory:${conversationId}`;
  const element = encodeStoredMessage({ role: "user", content: MESSAGE_CONTENT, createdAtMs: Date.now() });
  await bench.redisClient.del(key);
  await bench.redisClient.rpush(key, ...Array.from({ length: messages }, () => element));
}
