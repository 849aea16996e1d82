/**
 * A second error on a Redis socket must not end the process (src/store/socket-error-guard.ts).
 * CI met it with a TLS Redis whose certificate was not trusted: the failed check, then the server's
 * alert on the same socket. Here the two errors are emitted on a live connection's socket, so the
 * check is the same every run; the TLS tests meet the real sequence when the timing falls that way.
 */
import type { Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisConnection, openRedisConnection } from "../src/store/redis-connection.js";
import { RedisClusterProcesses } from "./helpers/redis-cluster.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { waitFor } from "./helpers/test-server.js";

const SETTINGS = { commandTimeoutMs: 1000 };

/** Emits two errors on a connection's socket, as Node's TLS socket can; returns what the second emit threw. */
function twoSocketErrors(connection: Redis): unknown {
  const socket = connection.stream as Socket;
  socket.emit("error", new Error("first socket error"));
  try {
    socket.emit("error", new Error("second socket error"));
    return undefined;
  } catch (error: unknown) {
    return error;
  }
}

async function ready(connection: RedisConnection): Promise<void> {
  await waitFor(async () => connection.status === "ready", 5000);
}

describe("a second socket error", () => {
  let redis: RedisServerProcess;
  beforeAll(async () => {
    redis = await RedisServerProcess.start();
  });
  afterAll(() => redis.stop());

  it("would be an uncaught exception with ioredis alone", async () => {
    const plain = new Redis(redis.url);
    plain.on("error", () => {});
    try {
      await ready(plain);
      expect(twoSocketErrors(plain)).toMatchObject({ message: "second socket error" });
    } finally {
      plain.disconnect();
    }
  });

  it("is dropped on a standalone connection, which keeps answering", async () => {
    const connection = openRedisConnection({ kind: "standalone", url: redis.url }, SETTINGS) as Redis;
    const seen: string[] = [];
    connection.on("error", (error: Error) => seen.push(error.message));
    try {
      await ready(connection);
      expect(twoSocketErrors(connection)).toBeUndefined();
      // ioredis saw the first error; the second was the guard's.
      expect(seen).toEqual(["first socket error"]);
      expect(await connection.ping()).toBe("PONG");
    } finally {
      connection.disconnect();
    }
  });

  it("is dropped on every node connection of a Redis Cluster", async () => {
    const cluster = await RedisClusterProcesses.start();
    const connection = openRedisConnection({ kind: "cluster", nodes: cluster.seeds }, SETTINGS);
    connection.on("error", () => {});
    try {
      await ready(connection);
      const nodes = (connection as Exclude<RedisConnection, Redis>).nodes("all");
      await Promise.all(nodes.map((node) => node.ping()));
      expect(nodes.length).toBeGreaterThanOrEqual(3);
      for (const node of nodes) expect(twoSocketErrors(node)).toBeUndefined();
      expect(await connection.set("socket-errors", "still here")).toBe("OK");
    } finally {
      connection.disconnect();
      await cluster.stop();
    }
  });
});
