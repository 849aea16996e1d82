/**
 * The server as a process: --help, configuration errors (exit 2), the startup
 * log, and graceful shutdown on SIGTERM/SIGINT with calls in flight.
 */
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { leastPrivilegeUser } from "./helpers/redis-acl.js";
import { TestCertificateAuthority } from "./helpers/certificates.js";
import { RedisServerProcess, freePort } from "./helpers/redis-server.js";
import { HEALTHCHECK_SCRIPT, runMain, startServerProcess } from "./helpers/server-process.js";
import { servingStatus } from "./helpers/health-client.js";
import { sleep, uniqueId, waitFor } from "./helpers/test-server.js";

const SETTINGS = [
  "CHATMEMORY_LISTEN",
  "CHATMEMORY_HEALTH_LISTEN",
  "REDIS_URL",
  "CHATMEMORY_MAX_TURNS",
  "CHATMEMORY_TTL_SECONDS",
  "CHATMEMORY_KEY_PREFIX",
  "CHATMEMORY_MAX_BATCH",
  "CHATMEMORY_MAX_CONTENT_BYTES",
  "CHATMEMORY_LOG_LEVEL",
  "CHATMEMORY_MAX_RECEIVE_BYTES",
  "CHATMEMORY_REDIS_TIMEOUT_MS",
  "CHATMEMORY_REDIS_CONNECTIONS",
  "CHATMEMORY_SHUTDOWN_GRACE_MS",
  "CHATMEMORY_HEALTH_INTERVAL_MS",
  "CHATMEMORY_REQUEST_ID_TTL_SECONDS",
  "CHATMEMORY_MAX_CONNECTION_IDLE_MS",
  "CHATMEMORY_MAX_CONNECTION_AGE_MS",
  "CHATMEMORY_MAX_CONNECTION_AGE_GRACE_MS",
  "CHATMEMORY_TLS_CERT",
  "CHATMEMORY_TLS_KEY",
  "CHATMEMORY_TLS_CLIENT_CA",
  "CHATMEMORY_TLS_RELOAD_MS",
  "CHATMEMORY_REDIS_TLS_CA",
  "CHATMEMORY_AUTH",
  "REDIS_CLUSTER_NODES",
  "REDIS_SENTINELS",
  "REDIS_SENTINEL_MASTER",
  "REDIS_USERNAME",
  "REDIS_PASSWORD",
  "REDIS_SENTINEL_USERNAME",
  "REDIS_SENTINEL_PASSWORD",
  "REDIS_TLS",
  "CHATMEMORY_TENANTS_FILE",
];

describe("configuration", () => {
  it("--help lists every setting and exits 0", async () => {
    const { code, stdout } = await runMain(["--help"]);
    expect(code).toBe(0);
    for (const name of SETTINGS) expect(stdout).toContain(name);
  });

  // Every rule is tested in-process (test/config.test.ts); these show what the process does with a bad value.
  it.each([
    ["a bad variable", { CHATMEMORY_MAX_TURNS: "0" }, [], /CHATMEMORY_MAX_TURNS/],
    ["a bad flag value", {}, ["--max-turns", "-3"], /--max-turns/],
    ["settings that do not go together", { REDIS_SENTINELS: "127.0.0.1:26379" }, [], /REDIS_SENTINEL_MASTER/],
  ] as [string, Record<string, string>, string[], RegExp][])("rejects %s with exit code 2 and a message naming it", async (_label, env, args, pattern) => {
    const { code, stderr } = await runMain(args, env);
    expect(code).toBe(2);
    expect(stderr).toMatch(pattern);
  });

  it("lets a flag override its environment variable", async () => {
    // The variable alone is invalid; the flag replaces it, so the server starts with the flag's value.
    const server = await startServerProcess({ CHATMEMORY_MAX_TURNS: "0" }, ["--max-turns", "5"]);
    const startup = server.logs.find((entry) => String(entry.msg).startsWith("chatmemory listening"));
    expect(startup).toMatchObject({ maxTurns: 5, windowMessages: 10 });
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});

describe("embedded store process", () => {
  it("logs the address, store, window and TTL, warns that data is not durable, and exits 0 on SIGTERM", async () => {
    const server = await startServerProcess({ CHATMEMORY_MAX_TURNS: "7", CHATMEMORY_TTL_SECONDS: "1.5" });
    const startup = server.logs.find((entry) => String(entry.msg).startsWith("chatmemory listening"));
    expect(startup).toMatchObject({ store: "memory", windowMessages: 14, ttlSeconds: 1.5 });
    expect(server.logs.some((entry) => /lost on restart and NOT shared between replicas/.test(String(entry.msg)))).toBe(true);
    const client = createChatMemoryClient({ address: server.address });
    expect((await client.append({ conversationId: "p1", messages: [{ role: "user", content: "x" }] })).count).toBe(1n);
    client.close();
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });

  it("exits 0 on SIGINT", async () => {
    const server = await startServerProcess();
    server.child.kill("SIGINT");
    expect(await server.exited).toBe(0);
  });
});

describe("graceful shutdown with Redis", () => {
  let redis: RedisServerProcess;
  beforeAll(async () => {
    redis = await RedisServerProcess.start();
  });
  afterAll(() => redis.stop());

  it("answers every in-flight append, stops serving, closes Redis and exits 0", async () => {
    const server = await startServerProcess({ REDIS_URL: redis.url, CHATMEMORY_MAX_TURNS: "100", CHATMEMORY_REDIS_TIMEOUT_MS: "3000" });
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
    const client = createChatMemoryClient({ address: server.address, defaultDeadlineMs: 10_000 });
    const id = uniqueId("drain");
    await client.append({ conversationId: id, messages: [{ role: "system", content: "start" }] });

    // Freeze Redis so the appends are provably in flight inside the server when SIGTERM lands.
    redis.pause();
    const appends = Array.from({ length: 50 }, (_, i) =>
      client.append({ conversationId: id, messages: [{ role: "user", content: `in-flight ${i}` }] }),
    );
    await sleep(300);
    server.child.kill("SIGTERM");
    await sleep(300);
    // Draining: a new connection is refused (the listener is closed) while the old calls wait.
    const late = createChatMemoryClient({ address: server.address, defaultDeadlineMs: 2000 });
    const lateCall = await late.count({ conversationId: id }).then(() => "answered", (e: { code: number }) => status[e.code]);
    late.close();
    expect(lateCall).toBe("UNAVAILABLE");
    redis.resume();

    const results = await Promise.allSettled(appends);
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(await server.exited).toBe(0);
    expect(server.logs.some((entry) => entry.msg === "stopped")).toBe(true);
    client.close();

    const check = redis.client();
    expect(await check.llen(`ractogateway:memory:${id}`)).toBe(51);
    // The server closed its connections: only this checking client remains.
    const clients = (await check.client("LIST")) as string;
    expect(clients.split("\n").filter((line) => line.includes("name=chatmemory"))).toEqual([]);
    check.disconnect();
  });

  it("authenticates as a least-privilege REDIS_USERNAME with REDIS_PASSWORD, logs the user and never the password, waits out a wrong one", async () => {
    const password = `pw-${uniqueId()}`;
    const admin = redis.client();
    // Only the prefix's keys and the commands docs/operations.md (Credentials) lists.
    await admin.call("ACL", "SETUSER", ...leastPrivilegeUser("chatmemory-app", password, "ractogateway:memory"));
    try {
      const server = await startServerProcess({ REDIS_URL: redis.url, REDIS_USERNAME: "chatmemory-app", REDIS_PASSWORD: password });
      await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
      const client = createChatMemoryClient({ address: server.address });
      const id = uniqueId("acl");
      for (const requestId of ["r1", "r1", ""]) {
        await client.append({ conversationId: id, requestId, messages: [{ role: "user", content: `as the ACL user ${requestId}` }] });
      }
      expect((await client.getHistory({ conversationId: id })).messages.map((m) => m.content)).toEqual(["as the ACL user r1", "as the ACL user "]);
      expect((await client.count({ conversationId: id })).count).toBe(2n);
      // Watch: the user may subscribe to the prefix's channels, and the scripts may publish on them.
      const watch = client.watch({ conversationId: id })[Symbol.asyncIterator]();
      expect((await watch.next()).value).toMatchObject({ reset: true, messages: [{ seq: 1n }, { seq: 2n }] });
      await client.append({ conversationId: id, messages: [{ role: "user", content: "watched" }] });
      expect((await watch.next()).value).toMatchObject({ reset: false, messages: [{ seq: 3n, content: "watched" }] });
      await watch.return?.(undefined);
      expect((await client.clear({ conversationId: id })).deleted).toBe(true);
      client.close();
      const clients = (await admin.client("LIST")) as string;
      // The command connection and Watch's subscriber connection, both as the ACL user.
      expect(clients.split("\n").filter((line) => line.includes("name=chatmemory ")).map((line) => /user=(\S+)/.exec(line)?.[1])).toEqual([
        "chatmemory-app",
        "chatmemory-app",
      ]);
      const startup = server.logs.find((entry) => String(entry.msg).startsWith("chatmemory listening"));
      expect(startup).toMatchObject({ redisUser: "chatmemory-app" });
      expect(JSON.stringify(server.logs)).not.toContain(password);
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);

      // A wrong password: the server runs NOT_SERVING and keeps retrying; once Redis accepts it, it serves.
      const refused = await startServerProcess({ REDIS_URL: redis.url, REDIS_USERNAME: "chatmemory-app", REDIS_PASSWORD: "wrong" });
      expect(await servingStatus(refused.address)).toBe("NOT_SERVING");
      await admin.call("ACL", "SETUSER", "chatmemory-app", "resetpass", ">wrong");
      await waitFor(async () => (await servingStatus(refused.address)) === "SERVING", 5000);
      refused.child.kill("SIGTERM");
      expect(await refused.exited).toBe(0);
    } finally {
      await admin.call("ACL", "DELUSER", "chatmemory-app");
      admin.disconnect();
    }
  });
});

describe("container health check (dist/src/healthcheck.js) with server TLS", () => {
  const ca = new TestCertificateAuthority("healthcheck");
  const serverCert = ca.issue("chatmemory-server", "server");
  const tlsEnv = { CHATMEMORY_TLS_CERT: serverCert.cert, CHATMEMORY_TLS_KEY: serverCert.key };
  const mtlsEnv = { ...tlsEnv, CHATMEMORY_TLS_CLIENT_CA: ca.cert };

  /** Starts a server with `env`, runs the health check with the same settings (as in the container), stops the server. */
  async function healthcheckBeside(env: Record<string, string>) {
    const server = await startServerProcess(env);
    const port = server.address.slice(server.address.lastIndexOf(":") + 1);
    try {
      const check = await runMain([], { ...env, CHATMEMORY_LISTEN: `0.0.0.0:${port}` }, HEALTHCHECK_SCRIPT);
      return { ...check, server };
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
  }

  it("checks a TLS port over TLS", async () => {
    const { code, stdout } = await healthcheckBeside(tlsEnv);
    expect(stdout).toContain("SERVING");
    expect(code).toBe(0);
  });

  it("with mTLS and no health listener, fails and says to set CHATMEMORY_HEALTH_LISTEN", async () => {
    const { code, stdout } = await healthcheckBeside(mtlsEnv);
    expect(code).toBe(1);
    expect(stdout).toMatch(/set CHATMEMORY_HEALTH_LISTEN/);
  });

  it("checks CHATMEMORY_HEALTH_LISTEN, a plaintext port with health only, beside an mTLS port", async () => {
    const healthPort = await freePort();
    const env = { ...mtlsEnv, CHATMEMORY_HEALTH_LISTEN: `127.0.0.1:${healthPort}` };
    const { code, stdout, server } = await healthcheckBeside(env);
    expect(stdout).toContain(`127.0.0.1:${healthPort}: SERVING`);
    expect(code).toBe(0);
    const startup = server.logs.find((entry) => String(entry.msg).startsWith("chatmemory listening"));
    expect(startup).toMatchObject({ healthAddress: `127.0.0.1:${healthPort}` });
  });

  it("the health port serves health only, and follows the store: NOT_SERVING without Redis", async () => {
    const healthPort = await freePort();
    const env = { CHATMEMORY_HEALTH_LISTEN: `127.0.0.1:${healthPort}`, REDIS_URL: `redis://127.0.0.1:${await freePort()}/0` };
    const server = await startServerProcess(env);
    try {
      const healthAddress = `127.0.0.1:${healthPort}`;
      expect(await servingStatus(healthAddress)).toBe("NOT_SERVING");
      const check = await runMain([], env, HEALTHCHECK_SCRIPT);
      expect(check.code).toBe(1);
      const client = createChatMemoryClient({ address: healthAddress, defaultDeadlineMs: 2000 });
      const call = await client.count({ conversationId: "x" }).then(() => "OK", (e: { code: number }) => status[e.code]);
      client.close();
      expect(call).toBe("UNIMPLEMENTED");
    } finally {
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });
});
