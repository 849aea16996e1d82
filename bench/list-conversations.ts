/**
 * ListConversations: time per page on 100,000 conversations, the index this server keeps against
 * a SCAN-based listing, and what the index costs each Append. Re-runnable; results go to
 * bench/notes.md ("ListConversations") by hand.
 *
 *   npm run build:bench && node dist-bench/bench/list-conversations.js
 *
 * Environment: LIST_BENCH_CONVERSATIONS (default 100000), LIST_BENCH_PAGE (100), LIST_BENCH_ROUNDS
 * (3: interleaved rounds of each measurement), LIST_BENCH_APPENDS (20000 per variant and round),
 * LIST_BENCH_CLUSTER=1 to list on a 6-node Redis Cluster too.
 *
 * Each conversation holds one pinned system message and one window message written with a
 * request_id: five keys (list, pinned, meta, request-ids, request-expiry), as an agent's would.
 * - Index: a whole listing through a real gRPC server and the TypeScript client; per page wall
 *   time and Redis time (INFO commandstats, EVALSHA).
 * - SCAN: pages of the same size made with SCAN MATCH <prefix>:* COUNT 1000 and LLEN + HGET per key
 *   (what a stateless SCAN listing must do; it may repeat keys, so it would not meet the contract).
 * - Append: the write script with and without its index lines (ZADD into the bucket, HSET of the
 *   write time), Redis µs per call, on new conversations and on existing ones, rounds interleaved.
 */
import { Redis } from "ioredis";
import { RedisClusterProcesses } from "../test/helpers/redis-cluster.js";
import { RedisServerProcess } from "../test/helpers/redis-server.js";
import { startTestServer, type TestServer, type TestServerOptions } from "../test/helpers/test-server.js";
import type { ListCursor } from "../src/store/chat-store.js";
import { ConversationIndex } from "../src/store/redis-conversation-index.js";
import { conversationKeys, WRITE_LUA } from "../src/store/redis-scripts.js";
import { encodeStoredMessage } from "../src/store/message-codec.js";
import { median, percentile, round } from "./lib/stats.js";

const CONVERSATIONS = Number(process.env.LIST_BENCH_CONVERSATIONS ?? 100_000);
const PAGE = Number(process.env.LIST_BENCH_PAGE ?? 100);
const ROUNDS = Number(process.env.LIST_BENCH_ROUNDS ?? 3);
const APPENDS = Number(process.env.LIST_BENCH_APPENDS ?? 20_000);
const TENANT_CONVERSATIONS = 500;

const log = (line: string) => process.stderr.write(`[list-bench] ${line}\n`);

async function populate(server: TestServer): Promise<void> {
  const started = performance.now();
  const chunk = 1000;
  for (let i = 0; i < CONVERSATIONS; i += chunk) {
    await Promise.all(
      Array.from({ length: Math.min(chunk, CONVERSATIONS - i) }, (_, j) =>
        server.store.append(
          `user-${String(i + j).padStart(7, "0")}`,
          [
            { role: "system", content: "You are a helpful assistant.", createdAtMs: Date.now() },
            { role: "user", content: "Hello, what can you do?", createdAtMs: Date.now() },
          ],
          { pinned: [true, false], idempotency: { requestId: `r-${i + j}`, fingerprint: "f" } },
        ),
      ),
    );
  }
  log(`populated ${CONVERSATIONS} conversations in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** Redis's own time in a command family across nodes (µs), from INFO commandstats. */
async function commandUsec(nodes: Redis[], command: string): Promise<number> {
  let total = 0;
  for (const node of nodes) {
    const info = await node.info("commandstats");
    const match = new RegExp(`cmdstat_${command}:calls=\\d+,usec=(\\d+)`).exec(info);
    total += Number(match?.[1] ?? 0);
  }
  return total;
}

interface PageStats {
  pages: number;
  listed: number;
  p50Ms: number;
  p99Ms: number;
  totalS: number;
  redisUsPerPage: number;
  /** Normalised to 100 conversations listed (SCAN pages hold as many as one SCAN call returns). */
  msPer100: number;
  redisUsPer100: number;
}

function pageStats(latencies: number[], listed: number, totalMs: number, redisUs: number): PageStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    pages: latencies.length,
    listed,
    p50Ms: round(percentile(sorted, 50), 2),
    p99Ms: round(percentile(sorted, 99), 2),
    totalS: round(totalMs / 1000, 2),
    redisUsPerPage: round(redisUs / latencies.length, 1),
    msPer100: round((totalMs * 100) / Math.max(1, listed), 2),
    redisUsPer100: round((redisUs * 100) / Math.max(1, listed), 1),
  };
}

/** One tenant's listing through the store (the service passes the same prefix): index pages. */
async function listTenantWithIndex(server: TestServer, nodes: Redis[], tenantPrefix: string, expected: number): Promise<PageStats> {
  const latencies: number[] = [];
  let listed = 0;
  const usecBefore = await commandUsec(nodes, "evalsha");
  const started = performance.now();
  let cursor: ListCursor | undefined;
  do {
    const t = performance.now();
    const page = await server.store.listConversations(tenantPrefix, PAGE, cursor);
    latencies.push(performance.now() - t);
    listed += page.conversations.length;
    cursor = page.next;
  } while (cursor !== undefined);
  const totalMs = performance.now() - started;
  if (listed !== expected) throw new Error(`tenant listing saw ${listed} of ${expected}`);
  return pageStats(latencies, listed, totalMs, (await commandUsec(nodes, "evalsha")) - usecBefore);
}

async function listWithIndex(server: TestServer, nodes: Redis[]): Promise<PageStats> {
  const latencies: number[] = [];
  const seen = new Set<string>();
  const usecBefore = await commandUsec(nodes, "evalsha");
  const started = performance.now();
  let pageToken = "";
  do {
    const t = performance.now();
    const page = await server.client.listConversations({ pageSize: PAGE, pageToken }, { deadlineMs: 30_000 });
    latencies.push(performance.now() - t);
    for (const c of page.conversations) seen.add(c.conversationId);
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  const totalMs = performance.now() - started;
  const redisUs = (await commandUsec(nodes, "evalsha")) - usecBefore;
  if (seen.size !== CONVERSATIONS) throw new Error(`index listing saw ${seen.size} of ${CONVERSATIONS}`);
  return pageStats(latencies, seen.size, totalMs, redisUs);
}

/** A SCAN-based page: SCAN until PAGE list keys came back, then their window length and write time. */
async function listWithScan(redis: Redis, pattern: string): Promise<PageStats & { duplicates: number }> {
  const latencies: number[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  const usecBefore = (await commandUsec([redis], "scan")) + (await commandUsec([redis], "llen")) + (await commandUsec([redis], "hget"));
  const started = performance.now();
  let cursor = "0";
  do {
    const t = performance.now();
    const keys: string[] = [];
    do {
      const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      // The index key matches the pattern too: conversation ids have no braces.
      keys.push(...batch.filter((key) => !key.includes("{")));
    } while (cursor !== "0" && keys.length < PAGE);
    const pipeline = redis.pipeline();
    for (const key of keys) pipeline.llen(key).hget(`{${key}}:meta`, "appended");
    await pipeline.exec();
    latencies.push(performance.now() - t);
    for (const key of keys) {
      if (seen.has(key)) duplicates++;
      seen.add(key);
    }
  } while (cursor !== "0");
  const totalMs = performance.now() - started;
  const redisUs = (await commandUsec([redis], "scan")) + (await commandUsec([redis], "llen")) + (await commandUsec([redis], "hget")) - usecBefore;
  return { ...pageStats(latencies, seen.size, totalMs, redisUs), duplicates };
}

/** The write script without its ListConversations lines: what Append cost before the index. */
const WRITE_LUA_WITHOUT_INDEX = WRITE_LUA.replace(/-- ListConversations:[^\n]*\n(?:[^\n]*\n){3}/, "");

/** usec_per_call of a command (also counted when a script calls it), 0 when it did not run. */
function usecPerCall(info: string, command: string): number {
  return Number(new RegExp(`cmdstat_${command}:calls=\\d+,usec=\\d+,usec_per_call=([\\d.]+)`).exec(info)?.[1] ?? 0);
}

async function appendUsPerCall(
  redis: Redis,
  lua: string,
  keyPrefix: string,
  ids: (i: number) => string,
): Promise<{ redisUs: number; wallUs: number; zaddUs: number; timeUs: number; hsetUs: number }> {
  const sha = String(await redis.script("LOAD", lua));
  const index = new ConversationIndex(keyPrefix, false).key(0);
  const element = encodeStoredMessage({ role: "user", content: "x".repeat(200), createdAtMs: Date.now() });
  await redis.config("RESETSTAT");
  const started = performance.now();
  for (let i = 0; i < APPENDS; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, APPENDS - i) }, (_, j) =>
        redis.evalsha(sha, 6, ...conversationKeys(keyPrefix, ids(i + j)), index, 20, 0, "", "", 60_000, 8, "1", "0", "epoch", "append", element),
      ),
    );
  }
  const wallUs = ((performance.now() - started) * 1000) / APPENDS;
  const info = await redis.info("commandstats");
  return {
    redisUs: usecPerCall(info, "evalsha"),
    wallUs: round(wallUs, 1),
    zaddUs: usecPerCall(info, "zadd"),
    timeUs: usecPerCall(info, "time"),
    hsetUs: usecPerCall(info, "hset"),
  };
}

/** Time per page with the index and with SCAN, for everyone and for one tenant; index memory. */
async function listingMeasurements(server: TestServer, redis: Redis, results: Record<string, unknown>): Promise<void> {
  const memory = await redis.info("memory");
  const indexBytes = Number(await redis.call("MEMORY", "USAGE", new ConversationIndex("bench", false).key(0), "SAMPLES", "0"));
  results.keys = await redis.dbsize();
  results.indexBytesPerConversation = round(indexBytes / CONVERSATIONS, 1);
  results.usedMemoryBytesPerConversation = round(Number(/used_memory:(\d+)/.exec(memory)?.[1]) / CONVERSATIONS, 1);

  const index: PageStats[] = [];
  const scan: (PageStats & { duplicates: number })[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    index.push(await listWithIndex(server, [redis]));
    scan.push(await listWithScan(redis, "bench:*"));
    log(`round ${r + 1}: index ${JSON.stringify(index.at(-1))}; scan ${JSON.stringify(scan.at(-1))}`);
  }
  results.index = index;
  results.scan = scan;

  // One tenant's 500 conversations among the 100,000: the index reads its range, SCAN walks everything.
  await Promise.all(
    Array.from({ length: TENANT_CONVERSATIONS }, (_, i) =>
      server.store.append(`acme:c-${i}`, [{ role: "user", content: "hi", createdAtMs: Date.now() }]),
    ),
  );
  const tenantIndex: PageStats[] = [];
  const tenantScan: PageStats[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    tenantIndex.push(await listTenantWithIndex(server, [redis], "acme:", TENANT_CONVERSATIONS));
    tenantScan.push(await listWithScan(redis, "bench:acme:*"));
    log(`tenant round ${r + 1}: index ${JSON.stringify(tenantIndex.at(-1))}; scan ${JSON.stringify(tenantScan.at(-1))}`);
  }
  results.tenantIndex = tenantIndex;
  results.tenantScan = tenantScan;
  await server.close();
}

async function main(): Promise<void> {
  if (WRITE_LUA_WITHOUT_INDEX.includes("KEYS[6]")) throw new Error("could not strip the index lines from the write script");
  const redisProcess = await RedisServerProcess.start();
  const redis = new Redis(redisProcess.url, { enableAutoPipelining: true });
  const results: Record<string, unknown> = { conversations: CONVERSATIONS, pageSize: PAGE };
  try {
    const base: TestServerOptions = { store: "redis", redisUrl: redisProcess.url, redisTimeoutMs: 5000 };
    const server = await startTestServer({ ...base, keyPrefix: "bench" });
    const onlyAppends = process.env.LIST_BENCH_ONLY === "append";
    if (!onlyAppends) await populate(server);
    if (!onlyAppends) await listingMeasurements(server, redis, results);
    else await server.close();


    const appends: Record<string, number[]> = { newWithIndex: [], newWithout: [], existingWithIndex: [], existingWithout: [] };
    const zadd: Record<string, number[]> = { newWithIndex: [], existingWithIndex: [] };
    const wall: Record<string, number[]> = { newWithIndex: [], newWithout: [], existingWithIndex: [], existingWithout: [] };
    // The existing conversations' variant appends to these (each at its window after the first rounds).
    await appendUsPerCall(redis, WRITE_LUA, "bench", (i) => `old-${i % 1000}`);
    for (let r = 0; r < ROUNDS; r++) {
      const variants: [string, string, (i: number) => string][] = [
        ["newWithIndex", WRITE_LUA, (i) => `new-${r}-a-${i}`],
        ["newWithout", WRITE_LUA_WITHOUT_INDEX, (i) => `new-${r}-b-${i}`],
        ["existingWithIndex", WRITE_LUA, (i) => `old-${i % 1000}`],
        ["existingWithout", WRITE_LUA_WITHOUT_INDEX, (i) => `old-${i % 1000}`],
      ];
      for (const [name, lua, ids] of r % 2 === 0 ? variants : [...variants].reverse()) {
        const { redisUs, wallUs, zaddUs } = await appendUsPerCall(redis, lua, "bench", ids);
        appends[name]!.push(redisUs);
        zadd[name]?.push(zaddUs);
        wall[name]!.push(wallUs);
      }
      log(`append round ${r + 1}: Redis µs/call ${JSON.stringify(Object.fromEntries(Object.entries(appends).map(([k, v]) => [k, v.at(-1)])))}`);
    }
    results.zaddUsInsideAppend = Object.fromEntries(Object.entries(zadd).map(([k, v]) => [k, { rounds: v, median: median(v) }]));
    results.appendRedisUsPerCall = Object.fromEntries(Object.entries(appends).map(([k, v]) => [k, { rounds: v, median: median(v) }]));
    results.appendWallUsPerCallC64 = Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, { rounds: v, median: median(v) }]));

    if (process.env.LIST_BENCH_CLUSTER === "1") {
      const cluster = await RedisClusterProcesses.start();
      try {
        const clusterServer = await startTestServer({ store: "redis", redisClusterNodes: cluster.seeds, redisTimeoutMs: 5000, keyPrefix: "bench" });
        await populate(clusterServer);
        const nodes = cluster.nodes.map((node) => new Redis(node.url));
        const rounds: PageStats[] = [];
        for (let r = 0; r < ROUNDS; r++) {
          rounds.push(await listWithIndex(clusterServer, nodes));
          log(`cluster round ${r + 1}: ${JSON.stringify(rounds.at(-1))}`);
        }
        results.clusterIndex = rounds;
        await Promise.all(
          Array.from({ length: TENANT_CONVERSATIONS }, (_, i) =>
            clusterServer.store.append(`acme:c-${i}`, [{ role: "user", content: "hi", createdAtMs: Date.now() }]),
          ),
        );
        const tenantRounds: PageStats[] = [];
        for (let r = 0; r < ROUNDS; r++) tenantRounds.push(await listTenantWithIndex(clusterServer, nodes, "acme:", TENANT_CONVERSATIONS));
        log(`cluster tenant: ${JSON.stringify(tenantRounds)}`);
        results.clusterTenantIndex = tenantRounds;
        nodes.forEach((node) => node.disconnect());
        await clusterServer.close();
      } finally {
        await cluster.stop();
      }
    }
  } finally {
    redis.disconnect();
    await redisProcess.stop();
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

await main();
