/**
 * Several server processes on one Redis: ordering across servers, and
 * draining restarts under load with a retrying, load-balancing client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChatMemoryClient, createChatMemoryClient } from "../clients/typescript/src/index.js";
import { servingStatus } from "../test/helpers/health-client.js";
import { RedisServerProcess, freePort } from "../test/helpers/redis-server.js";
import { type ServerProcess, startServerProcess } from "../test/helpers/server-process.js";
import { sleep, waitFor } from "../test/helpers/test-server.js";

let redis: RedisServerProcess;
beforeAll(async () => {
  redis = await RedisServerProcess.start();
});
afterAll(() => redis.stop());

async function startServing(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServerProcess({ REDIS_URL: redis.url, ...env });
  await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
  return server;
}

async function stop(server: ServerProcess): Promise<number | string> {
  server.child.kill("SIGTERM");
  return server.exited;
}

describe("3 servers, 16 writers, shared conversations", () => {
  it("keeps every window a correctly ordered, gap-free suffix of each writer's messages, with gap-free seqs", async () => {
    const servers = await Promise.all([0, 1, 2].map(() => startServing({ CHATMEMORY_MAX_TURNS: "50" })));
    const clients = servers.map((server) => createChatMemoryClient({ address: server.address, defaultDeadlineMs: 10_000 }));
    const conversations = ["order-a", "order-b", "order-c", "order-d"];
    const perWriter = 60;
    const seqs = new Map(conversations.map((id) => [id, [] as [number, number][]]));
    try {
      await Promise.all(
        Array.from({ length: 16 }, async (_, w) => {
          const client = clients[w % clients.length] as ChatMemoryClient;
          for (let n = 0; n < perWriter; n++) {
            for (const conversationId of conversations) {
              // One message or two per append, so seqs are given to batches of different sizes.
              const messages = [{ role: "user", content: `w${w}:${n}` }, ...(n % 3 === 0 ? [{ role: "assistant", content: `w${w}:${n}:reply` }] : [])];
              const { firstSeq, lastSeq } = await client.append({ conversationId, requestId: `w${w}-${n}`, messages });
              seqs.get(conversationId)?.push([Number(firstSeq), Number(lastSeq)]);
            }
          }
        }),
      );
      let checkedWindows = 0;
      for (const conversationId of conversations) {
        // The batches' seq ranges tile 1..total exactly: strictly increasing, no gap, no seq given twice.
        const ranges = (seqs.get(conversationId) ?? []).sort((a, b) => a[0] - b[0]);
        let next = 1;
        for (const [first, last] of ranges) {
          expect(first, `${conversationId}: a batch starting at ${first}, expected ${next}`).toBe(next);
          next = last + 1;
        }
        const history = (await clients[0]!.getHistory({ conversationId })).messages;
        expect(history).toHaveLength(100);
        // The window's seqs are the newest 100 of them, in order.
        expect(history.map((m) => Number(m.seq))).toEqual(Array.from({ length: 100 }, (_, i) => next - 100 + i));
        const window = history.map((m) => m.content).filter((c) => !c.endsWith(":reply"));
        for (let w = 0; w < 16; w++) {
          const mine = window.filter((c) => c.startsWith(`w${w}:`)).map((c) => Number(c.split(":")[1]));
          if (mine.length === 0) continue;
          // A gap-free suffix of 0..59: consecutive numbers ending with the writer's last message.
          const expected = Array.from({ length: mine.length }, (_, i) => perWriter - mine.length + i);
          expect(mine, `writer ${w} in ${conversationId}`).toEqual(expected);
        }
        checkedWindows++;
      }
      console.log(
        `[faults] ordering: 16 writers x ${perWriter} x ${conversations.length} conversations over 3 servers; ${checkedWindows} windows of 100 are ordered gap-free suffixes, seqs gap-free`,
      );
    } finally {
      clients.forEach((client) => client.close());
      await Promise.all(servers.map(stop));
    }
  });
});

describe("draining restarts", () => {
  it("loses no call while one of two servers is SIGTERMed and restarted, repeatedly", async () => {
    const ports = [await freePort(), await freePort()];
    const start = (port: number) => startServing({ CHATMEMORY_LISTEN: `127.0.0.1:${port}` });
    const servers = [await start(ports[0]!), await start(ports[1]!)];
    // The standard gRPC service config: round robin over both servers, retry UNAVAILABLE.
    const serviceConfig = {
      loadBalancingConfig: [{ round_robin: {} }],
      methodConfig: [
        {
          name: [{ service: "chatmemory.v1.ChatMemory" }],
          retryPolicy: { maxAttempts: 5, initialBackoff: "0.05s", maxBackoff: "0.5s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] },
        },
      ],
    };
    const client = createChatMemoryClient({
      address: `ipv4:127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`,
      defaultDeadlineMs: 10_000,
      channelOptions: {
        "grpc.service_config": JSON.stringify(serviceConfig),
        "grpc.enable_retries": 1,
        // Reconnect to a restarted server within a second (grpc-js starts at 1 s and backs off to 120 s):
        // otherwise the next restart can find the other server still in reconnect backoff, and no server ready.
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
      },
    });

    let running = true;
    let succeeded = 0;
    const failures: string[] = [];
    const load = Array.from({ length: 8 }, async (_, worker) => {
      for (let n = 0; running; n++) {
        try {
          await client.append({ conversationId: `drain-${worker}`, requestId: `d${worker}-${n}`, messages: [{ role: "user", content: `${n}` }] });
          succeeded++;
        } catch (error: unknown) {
          failures.push(String((error as Error).message));
        }
      }
    });

    const exitCodes: (number | string)[] = [];
    for (let cycle = 0; cycle < 6; cycle++) {
      // A rolling restart moves on once the restarted replica is serving and clients are back on it.
      await sleep(1000);
      const index = cycle % 2;
      exitCodes.push(await stop(servers[index]!));
      servers[index] = await start(ports[index]!);
    }
    await sleep(300);
    running = false;
    await Promise.all(load);
    client.close();
    exitCodes.push(...(await Promise.all(servers.map(stop))));
    console.log(
      `[faults] draining restarts: 6 SIGTERM/restart cycles; ${succeeded} calls succeeded, ${failures.length} failed` +
        `${failures.length ? ` (${[...new Set(failures)].join("; ")})` : ""}; exit codes ${exitCodes.join(",")}`,
    );
    expect(failures).toEqual([]);
    expect(succeeded).toBeGreaterThan(200);
    expect(exitCodes.every((code) => code === 0)).toBe(true);
  });
});
