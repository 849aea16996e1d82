/**
 * A quick local loop (not the full benchmark): Append and GetHistory latency
 * over loopback through the TypeScript client, against the built server as a
 * separate process, plus Append throughput at concurrency 64 for 1, 2 and 4
 * Redis connections. The client is a grpc-js process too, so throughput here
 * is bounded by the client as much as by the server.
 *
 *   npm run build && npm run build:bench && node_modules/.bin/node dist-bench/bench/quick-loop.js redis://127.0.0.1:6379/0
 */
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { startServerProcess } from "../test/helpers/server-process.js";

const redisUrl = process.argv[2];
const CONTENT = "x".repeat(200);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function latency(label: string, call: () => Promise<unknown>, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await call();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} c=1  p50 ${percentile(samples, 50).toFixed(3)} ms  p99 ${percentile(samples, 99).toFixed(3)} ms`);
}

async function throughput(label: string, call: () => Promise<unknown>, concurrency: number, seconds: number): Promise<void> {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  console.log(`${label.padEnd(44)} c=${concurrency} ${(done / seconds).toFixed(0)} calls/s`);
}

const stores: [string, Record<string, string>][] = [["memory", {}]];
if (redisUrl) {
  for (const connections of ["1", "2", "4"]) {
    stores.push([`redis (${connections} conn)`, { REDIS_URL: redisUrl, CHATMEMORY_REDIS_CONNECTIONS: connections }]);
  }
}

for (const [label, env] of stores) {
  const server = await startServerProcess({ CHATMEMORY_LOG_LEVEL: "info", ...env }, [], { echo: true });
  const client = createChatMemoryClient({ address: server.address });
  const id = `bench-${label.replace(/\W+/g, "-")}-${Date.now()}`;
  const append = () => client.append({ conversationId: id, messages: [{ role: "user", content: CONTENT }] });
  const history = () => client.getHistory({ conversationId: id });
  if (label.includes("1 conn") || label === "memory") {
    await latency(`${label}: Append (200 B)`, append, 3000);
    await latency(`${label}: GetHistory (20-message window)`, history, 3000);
  }
  await throughput(`${label}: Append (200 B)`, append, 64, 4);
  await client.clear({ conversationId: id });
  client.close();
  await server.stop();
}
