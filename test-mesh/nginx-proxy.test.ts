/**
 * nginx (deploy/nginx/chatmemory.conf) as the gRPC load balancer in front of two replicas on one
 * Redis: unary calls and health checks through it, grpc-health-probe against each replica and
 * through nginx, and rolling SIGTERM/restarts of the replicas under a load of appends from the
 * shipped client (its default retry policy; a request_id per logical append): no call fails and
 * every acknowledged append is stored exactly once.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatMemoryClient, createChatMemoryClient } from "../clients/typescript/src/index.js";
import { servingStatus } from "../test/helpers/health-client.js";
import { RedisServerProcess, freePort } from "../test/helpers/redis-server.js";
import { type ServerProcess, startServerProcess } from "../test/helpers/server-process.js";
import { sleep, uniqueId, waitFor } from "../test/helpers/test-server.js";
import { WatcherView } from "../test/helpers/watcher-view.js";
import { healthProbeInstalled, probe } from "./health-probe.js";
import { type NginxProcess, startNginx } from "./nginx-process.js";

const CYCLES = 6;
const WORKERS = 8;
const CLIENTS = 4;
const WATCHERS = 4;
/** Per worker, so every conversation fits its window (CHATMEMORY_MAX_TURNS below) and the run is bounded. */
const MAX_APPENDS_PER_WORKER = 4000;
/** Longer than the example's fail_timeout (1 s; nginx counts it in whole seconds): a restarted replica is back in nginx's rotation before the other stops. */
const BETWEEN_RESTARTS_MS = 3000;
/** The replicas' CHATMEMORY_MAX_CONNECTION_AGE_MS: shorter than the run, so Watch streams outlive it. */
const MAX_CONNECTION_AGE_MS = 10_000;

let redis: RedisServerProcess;
let nginx: NginxProcess;
const ports: number[] = [];
const replicas: ServerProcess[] = [];

function startReplica(port: number): Promise<ServerProcess> {
  return startServerProcess({
    REDIS_URL: redis.url,
    CHATMEMORY_LISTEN: `127.0.0.1:${port}`,
    CHATMEMORY_MAX_TURNS: "5000",
    CHATMEMORY_SHUTDOWN_GRACE_MS: "5000",
    // As deploy/kubernetes sets it (shorter): Watch streams through nginx outlive their connection.
    CHATMEMORY_MAX_CONNECTION_AGE_MS: `${MAX_CONNECTION_AGE_MS}`,
    CHATMEMORY_MAX_CONNECTION_AGE_GRACE_MS: "10000",
  });
}

async function waitForProbe(address: string, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await probe(address)) === 0, timeoutMs, 100);
}

beforeAll(async () => {
  try {
    execFileSync("nginx", ["-v"], { stdio: "ignore" });
  } catch {
    throw new Error("nginx is not on the PATH: apt-get install nginx (.ci/run does)");
  }
  if (!healthProbeInstalled()) throw new Error("grpc-health-probe is missing: run npm run tools");
  redis = await RedisServerProcess.start();
  ports.push(await freePort(), await freePort());
  replicas.push(...(await Promise.all(ports.map(startReplica))));
  await Promise.all(replicas.map((replica) => waitForProbe(replica.address, 10_000)));
  // The replicas' connections age out after 9-11 s (MAX_CONNECTION_AGE_MS with its jitter); as the
  // example keeps nginx's keepalive_time below the age setting of deploy/kubernetes, so does the test.
  nginx = await startNginx(
    ports.map((port) => `127.0.0.1:${port}`),
    { upstreamKeepaliveTime: `${MAX_CONNECTION_AGE_MS / 2000}s` },
  );
});

afterAll(async () => {
  await nginx?.stop();
  await Promise.all(replicas.map((replica) => replica.stop()));
  await redis?.stop();
  if (nginx) {
    // Kept for a look after the run (test-results/ is not committed).
    mkdirSync("test-results", { recursive: true });
    copyFileSync(nginx.errorLog, "test-results/mesh-nginx-error.log");
    copyFileSync(nginx.accessLog, "test-results/mesh-nginx-access.log");
    nginx.remove();
  }
});

function accessLogLines(): string[] {
  return readFileSync(nginx.accessLog, "utf8").split("\n").filter((line) => line.length > 0);
}

describe("nginx in front of two replicas", () => {
  it("passes unary calls and health checks through to both replicas", async () => {
    const client = createChatMemoryClient({ address: nginx.address });
    try {
      const conversationId = uniqueId("nginx-unary");
      for (let n = 0; n < 10; n++) {
        await client.append({ conversationId, requestId: `${conversationId}-${n}`, messages: [{ role: "user", content: `${n}` }] });
      }
      expect((await client.count({ conversationId })).count).toBe(10n);
      expect((await client.getHistory({ conversationId })).messages.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, n) => `${n}`));
      expect((await client.clear({ conversationId })).deleted).toBe(true);
      expect(await servingStatus(nginx.address)).toBe("SERVING");
      expect(await servingStatus(nginx.address, "chatmemory.v1.ChatMemory")).toBe("SERVING");
      // nginx picks an upstream per call, even on one client connection.
      const upstreams = new Set(accessLogLines().map((line) => /upstream="([^"]*)"/.exec(line)?.[1]));
      expect(upstreams).toEqual(new Set(ports.map((port) => `127.0.0.1:${port}`)));
    } finally {
      client.close();
    }
  });

  it("grpc-health-probe: 0 for a SERVING replica, directly and through nginx; non-zero when not SERVING", async () => {
    for (const replica of replicas) expect(await probe(replica.address)).toBe(0);
    expect(await probe(nginx.address)).toBe(0);
    expect(await probe(nginx.address, "")).toBe(0);
    // A replica whose Redis does not answer: up, but NOT_SERVING (exit 4).
    const unreachable = await startServerProcess({ REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`, CHATMEMORY_REDIS_TIMEOUT_MS: "200" });
    try {
      expect(await probe(unreachable.address)).toBe(4);
      expect(await probe(unreachable.address, "no.such.Service")).not.toBe(0);
    } finally {
      await unreachable.stop();
    }
    // Stopped: nothing listens (exit 2).
    expect(await probe(unreachable.address)).toBe(2);
  });

  it("loses no append while the replicas are SIGTERMed and restarted under load", async () => {
    const run = uniqueId("nginx-restarts");
    const logLinesBefore = accessLogLines().length;
    // The shipped client as applications use it: DEFAULT_CHANNEL_OPTIONS retries UNAVAILABLE.
    const clients: ChatMemoryClient[] = Array.from({ length: CLIENTS }, () => createChatMemoryClient({ address: nginx.address }));
    const acknowledged: number[][] = Array.from({ length: WORKERS }, () => []);
    const failures: string[] = [];
    let running = true;
    let restarting = false;
    let callsDuringRestarts = 0;
    // Watchers through nginx (the client's watch(), which resumes on UNAVAILABLE): a replica's drain
    // ends their streams, and they must carry on through the other replica without a gap.
    const watchers = Array.from({ length: WATCHERS }, (_, w) => new WatcherView((signal) => clients[w % CLIENTS]!.watch({ conversationId: `${run}-w${w}` }, { signal })));
    await waitFor(async () => watchers.every((view) => view.responses > 0), 5000, 20);
    const load = acknowledged.map(async (acks, w) => {
      const client = clients[w % CLIENTS]!;
      for (let n = 0; running && n < MAX_APPENDS_PER_WORKER; n++) {
        try {
          await client.append({ conversationId: `${run}-w${w}`, requestId: `${run}-w${w}-${n}`, messages: [{ role: "user", content: `${n}` }] });
          acks.push(n);
          if (restarting) callsDuringRestarts++;
        } catch (error: unknown) {
          failures.push(`w${w} #${n}: ${(error as Error).message}`);
        }
      }
    });

    const exitCodes: (number | string)[] = [];
    const probesWhileDown: number[] = [];
    const probesThroughNginx: number[] = [];
    const startedAt = Date.now();
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await sleep(BETWEEN_RESTARTS_MS);
      const index = cycle % 2;
      restarting = true;
      replicas[index]!.child.kill("SIGTERM");
      exitCodes.push(await replicas[index]!.exited);
      probesWhileDown.push(await probe(replicas[index]!.address));
      probesThroughNginx.push(await probe(nginx.address));
      replicas[index] = await startReplica(ports[index]!);
      await waitForProbe(replicas[index]!.address, 10_000);
      restarting = false;
    }
    await sleep(500);
    running = false;
    await Promise.all(load);
    const loadMs = Date.now() - startedAt;

    // Read back through nginx: every acknowledged append stored exactly once, nothing else stored.
    const duplicates: string[] = [];
    const missing: string[] = [];
    let stored = 0;
    for (let w = 0; w < WORKERS; w++) {
      const history = (await clients[0]!.getHistory({ conversationId: `${run}-w${w}` }, { deadlineMs: 20_000 })).messages;
      stored += history.length;
      const times = new Map<string, number>();
      for (const message of history) times.set(message.content, (times.get(message.content) ?? 0) + 1);
      for (const n of acknowledged[w]!) {
        const seen = times.get(`${n}`) ?? 0;
        if (seen === 0) missing.push(`w${w}:${n}`);
        if (seen > 1) duplicates.push(`w${w}:${n} x${seen}`);
      }
    }
    // Every watcher ends with exactly its conversation, in seq order.
    const watched = await Promise.all(
      watchers.map(async (view, w) => {
        const history = (await clients[0]!.getHistory({ conversationId: `${run}-w${w}` }, { deadlineMs: 20_000 })).messages.map((m) => m.content);
        await waitFor(async () => view.contents.length >= history.length || view.error !== undefined, 20_000, 50).catch(() => {});
        view.stop();
        await view.done;
        return { view, history };
      }),
    );
    clients.forEach((client) => client.close());

    const total = acknowledged.reduce((sum, acks) => sum + acks.length, 0);
    const lines = accessLogLines().slice(logLinesBefore);
    const movedByNginx = lines.filter((line) => /upstream="[^"]*, /.test(line)).length;
    // 204: nginx's 502 (a draining replica refused the call) as a Trailers-Only UNAVAILABLE, which clients retry.
    const unavailable = lines.filter((line) => / 204 grpc=/.test(line));
    // Watch streams end when their replica drains (UNAVAILABLE, grpc=14, then the client resumes) or
    // when the test stops them (cancelled: no grpc-status, or 499); they are counted apart.
    const watchEnds = lines.filter((line) => line.includes("/chatmemory.v1.ChatMemory/Watch "));
    const notOk = lines.filter((line) => !watchEnds.includes(line) && !/ 200 grpc=0 /.test(line) && !/ 204 grpc=/.test(line));
    console.log(
      `[mesh] nginx, ${CYCLES} SIGTERM/restart cycles of 2 replicas in ${(loadMs / 1000).toFixed(1)} s: ${total} appends acknowledged ` +
        `(${callsDuringRestarts} while a replica was down or starting), ${failures.length} failed, ${missing.length} lost, ${duplicates.length} stored twice; ` +
        `nginx: ${lines.length} calls logged, ${movedByNginx} moved to the other replica by grpc_next_upstream, ` +
        `${unavailable.length} answered UNAVAILABLE (then retried by the client), ${notOk.length} other; ` +
        `probes: stopped replica ${probesWhileDown.join(",")}, through nginx ${probesThroughNginx.join(",")}; exit codes ${exitCodes.join(",")}`,
    );
    console.log(
      `[mesh] ${WATCHERS} watchers through nginx: ${watchEnds.length} streams ended (resumed by the client), ${watched.map(({ view }) => view.contents.length).join(", ")} messages, ` +
        `resets after the first ${watched.map(({ view }) => view.resetsAfterFirst).join(", ")}, gaps ${watched.map(({ view }) => view.discontinuities).join(", ")}`,
    );
    expect(watchEnds.filter((line) => !/ (200 grpc=14|200 grpc=-|499 grpc=-) /.test(line))).toEqual([]);
    for (const { view, history } of watched) {
      expect(view.error).toBeUndefined();
      expect(view.contents).toEqual(history);
      expect(view.discontinuities).toBe(0);
    }
    if (notOk.length > 0) console.log(`[mesh] other answers from nginx (first 10):\n${notOk.slice(0, 10).join("\n")}`);
    expect(failures).toEqual([]);
    expect(missing).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(stored).toBe(total);
    expect(total).toBeGreaterThan(500);
    expect(callsDuringRestarts).toBeGreaterThan(0);
    expect(notOk).toEqual([]);
    expect(exitCodes.every((code) => code === 0)).toBe(true);
    expect(probesWhileDown.every((code) => code !== 0)).toBe(true);
    expect(probesThroughNginx.every((code) => code === 0)).toBe(true);
  });

  it("grpc-health-probe through nginx fails once no replica is up", async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    expect(await probe(nginx.address)).not.toBe(0);
    const errors = readFileSync(nginx.errorLog, "utf8");
    expect(errors).toMatch(/connect\(\) failed|no live upstreams/);
  });
});
