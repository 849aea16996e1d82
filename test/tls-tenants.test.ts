/**
 * Transport security and tenants, with certificates made at run time:
 * server TLS, mTLS, certificate rotation, TLS to Redis, and tenant isolation
 * by bearer token and by client certificate.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createTenantResolver, loadTenantTokens, tokenDigest } from "../src/auth/tenants.js";
import { type ChatMemoryClient, createChatMemoryClient } from "../clients/typescript/src/index.js";
import { createServerSecurity } from "../src/grpc/server-credentials.js";
import { TestCertificateAuthority } from "./helpers/certificates.js";
import { servingStatus } from "./helpers/health-client.js";
import { RedisServerProcess } from "./helpers/redis-server.js";
import { type TestServer, sleep, startTestServer, statusOf, uniqueId, waitFor } from "./helpers/test-server.js";
import { runMain } from "./helpers/server-process.js";

const redisUrl = inject("redisUrl");
const ca = new TestCertificateAuthority("chatmemory");
const serverCert = ca.issue("chatmemory-server", "server");
const rogueCa = new TestCertificateAuthority("rogue");

function tlsClientCredentials(client?: { cert: string; key: string }, caPem = ca.pem()): grpc.ChannelCredentials {
  return client ? grpc.credentials.createSsl(caPem, readFileSync(client.key), readFileSync(client.cert)) : grpc.credentials.createSsl(caPem);
}

const tls = (clientCa?: string) =>
  createServerSecurity({ tlsCert: serverCert.cert, tlsKey: serverCert.key, tlsClientCa: clientCa, tlsReloadMs: 60_000 });

async function codeOf(client: ChatMemoryClient): Promise<string> {
  return client.count({ conversationId: "probe" }, { deadlineMs: 3000 }).then(
    () => "OK",
    (error: grpc.ServiceError) => grpc.status[error.code],
  );
}

describe("server TLS", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ store: "memory", security: tls(), clientOptions: { credentials: tlsClientCredentials() } });
  });
  afterAll(() => server.close());

  it("serves clients that trust its CA, and refuses plaintext and untrusting clients", async () => {
    expect((await server.client.append({ conversationId: "tls", messages: [{ role: "user", content: "secret" }] })).count).toBe(1n);
    const plaintext = createChatMemoryClient({ address: server.address });
    const untrusting = createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials(undefined, rogueCa.pem()) });
    expect([await codeOf(plaintext), await codeOf(untrusting)]).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
    plaintext.close();
    untrusting.close();
  });
});

describe("mTLS", () => {
  let server: TestServer;
  const clientCert = ca.issue("team-a", "client");
  const rogueClient = rogueCa.issue("team-a", "client", "rogue-team-a");
  beforeAll(async () => {
    server = await startTestServer({ store: "memory", security: tls(ca.cert), clientOptions: { credentials: tlsClientCredentials(clientCert) } });
  });
  afterAll(() => server.close());

  it("requires a client certificate signed by the configured CA", async () => {
    expect(await codeOf(server.client)).toBe("OK");
    const noCert = createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials() });
    const wrongCa = createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials(rogueClient) });
    expect([await codeOf(noCert), await codeOf(wrongCa)]).toEqual(["UNAVAILABLE", "UNAVAILABLE"]);
    noCert.close();
    wrongCa.close();
  });
});

describe("certificate rotation", () => {
  it("serves a replaced certificate to new connections without a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chatmemory-rotate-"));
    const [cert, key] = [join(dir, "server.pem"), join(dir, "server-key.pem")];
    copyFileSync(serverCert.cert, cert);
    copyFileSync(serverCert.key, key);
    const security = createServerSecurity({ tlsCert: cert, tlsKey: key, tlsClientCa: undefined, tlsReloadMs: 200 });
    const server = await startTestServer({ store: "memory", security, clientOptions: { credentials: tlsClientCredentials() } });
    try {
      const newCa = new TestCertificateAuthority("rotated");
      const rotated = newCa.issue("chatmemory-server", "server", "rotated-server");
      const trustsNewCa = () => createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials(undefined, newCa.pem()) });
      const before = trustsNewCa();
      expect(await codeOf(before)).toBe("UNAVAILABLE");
      before.close();
      copyFileSync(rotated.cert, cert);
      copyFileSync(rotated.key, key);
      await waitFor(async () => {
        const client = trustsNewCa();
        const code = await codeOf(client);
        client.close();
        return code === "OK";
      }, 5000, 250);
    } finally {
      await server.close();
    }
  });
});

describe("TLS to Redis (rediss://)", () => {
  let redis: RedisServerProcess;
  let server: TestServer;
  beforeAll(async () => {
    const redisCert = ca.issue("redis", "server", "redis-server");
    redis = await RedisServerProcess.start({ tls: { cert: redisCert.cert, key: redisCert.key, ca: ca.cert, caPem: ca.pem() } });
    server = await startTestServer({ store: "redis", redisUrl: redis.url, redisTlsCa: ca.pem() });
  });
  afterAll(async () => {
    await server.close();
    await redis.stop();
  });

  it("stores and reads over TLS and reports SERVING", async () => {
    expect(redis.url.startsWith("rediss://")).toBe(true);
    await waitFor(async () => (await servingStatus(server.address)) === "SERVING", 5000);
    await server.client.append({ conversationId: "over-tls", messages: [{ role: "user", content: "encrypted in transit" }] });
    const raw = redis.client();
    expect(await raw.lrange(`${server.keyPrefix}:over-tls`, 0, -1)).toHaveLength(1);
    raw.disconnect();
  });

  it("refuses a Redis whose certificate it cannot verify", async () => {
    const untrusting = await startTestServer({ store: "redis", redisUrl: redis.url, redisTlsCa: rogueCa.pem() });
    try {
      await sleep(300);
      expect(await servingStatus(untrusting.address)).toBe("NOT_SERVING");
      expect(grpc.status[(await statusOf(untrusting.client.count({ conversationId: "x" }))).code]).toBe("UNAVAILABLE");
    } finally {
      await untrusting.close();
    }
  });
});

/** Every RPC as one tenant against one conversation id; the tenants must not see each other's data. */
async function expectIsolated(a: ChatMemoryClient, b: ChatMemoryClient, redis: Redis, keyPrefix: string) {
  const id = uniqueId("shared-id");
  await a.append({ conversationId: id, messages: [{ role: "user", content: "A's secret" }] });
  expect((await b.getHistory({ conversationId: id })).messages).toEqual([]);
  expect((await b.count({ conversationId: id })).count).toBe(0n);
  expect((await b.clear({ conversationId: id })).deleted).toBe(false);
  await b.append({ conversationId: id, messages: [{ role: "user", content: "B's own" }] });
  expect((await a.getHistory({ conversationId: id })).messages.map((m) => m.content)).toEqual(["A's secret"]);
  expect((await b.getHistory({ conversationId: id })).messages.map((m) => m.content)).toEqual(["B's own"]);
  // Each tenant's list and its seq counter, under the tenant's namespace.
  expect((await redis.keys(`*${id}*`)).sort()).toEqual(
    [`${keyPrefix}:team-a:${id}`, `${keyPrefix}:team-b:${id}`, `{${keyPrefix}:team-a:${id}}:meta`, `{${keyPrefix}:team-b:${id}}:meta`].sort(),
  );
}

async function expectUnauthenticated(client: ChatMemoryClient) {
  const calls = [
    client.append({ conversationId: "c", messages: [{ role: "user", content: "x" }] }),
    client.getHistory({ conversationId: "c" }),
    client.count({ conversationId: "c" }),
    client.clear({ conversationId: "c" }),
    // Authentication is checked before the request: a bad one still says UNAUTHENTICATED.
    client.append({ conversationId: "bad id", messages: [] }),
  ];
  for (const call of calls) expect(grpc.status[(await statusOf(call)).code]).toBe("UNAUTHENTICATED");
}

describe("tenants by bearer token", () => {
  let server: TestServer;
  let redis: Redis;
  const tokens = { a: "token-for-team-a-0123456789", b: "token-for-team-b-9876543210" };
  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), "chatmemory-tenants-")), "tenants.json");
    writeFileSync(file, JSON.stringify({ "team-a": { token_sha256: [tokenDigest(tokens.a)] }, "team-b": { token_sha256: [tokenDigest(tokens.b)] } }));
    server = await startTestServer({ store: "redis", redisUrl, resolveTenant: createTenantResolver("token", loadTenantTokens(file)) });
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it("keeps tenant A's and B's conversations with the same id apart", async () => {
    const a = createChatMemoryClient({ address: server.address, bearerToken: tokens.a });
    const b = createChatMemoryClient({ address: server.address, bearerToken: tokens.b });
    await expectIsolated(a, b, redis, server.keyPrefix);
    a.close();
    b.close();
  });

  it("answers UNAUTHENTICATED without a token or with an unknown one", async () => {
    await expectUnauthenticated(server.client);
    const stranger = createChatMemoryClient({ address: server.address, bearerToken: "not-a-known-token" });
    await expectUnauthenticated(stranger);
    stranger.close();
  });
});

describe("tenants by client certificate (mTLS)", () => {
  let server: TestServer;
  let redis: Redis;
  beforeAll(async () => {
    server = await startTestServer({
      store: "redis",
      redisUrl,
      security: tls(ca.cert),
      resolveTenant: createTenantResolver("mtls"),
      clientOptions: { credentials: tlsClientCredentials(ca.issue("team-a", "client", "tenant-a")) },
    });
    redis = new Redis(redisUrl);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it("keeps tenant A's and B's conversations with the same id apart", async () => {
    const b = createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials(ca.issue("team-b", "client", "tenant-b")) });
    await expectIsolated(server.client, b, redis, server.keyPrefix);
    b.close();
  });

  it("answers UNAUTHENTICATED for a certificate whose CN is not a tenant name", async () => {
    const odd = createChatMemoryClient({ address: server.address, credentials: tlsClientCredentials(ca.issue("team:a", "client", "odd-cn")) });
    await expectUnauthenticated(odd);
    odd.close();
  });
});

describe("security configuration", () => {
  it.each([
    ["a certificate without its key", { CHATMEMORY_TLS_CERT: serverCert.cert }, /CHATMEMORY_TLS_CERT and CHATMEMORY_TLS_KEY/],
    ["a missing certificate file", { CHATMEMORY_TLS_CERT: "/nonexistent.pem", CHATMEMORY_TLS_KEY: serverCert.key }, /CHATMEMORY_TLS_CERT/],
    ["mtls auth without a client CA", { CHATMEMORY_AUTH: "mtls" }, /CHATMEMORY_AUTH=mtls/],
    ["token auth without a tenants file", { CHATMEMORY_AUTH: "token" }, /CHATMEMORY_TENANTS_FILE/],
    ["an unknown auth mode", { CHATMEMORY_AUTH: "basic" }, /CHATMEMORY_AUTH/],
  ])("rejects %s with exit code 2", async (_label, env, pattern) => {
    const { code, stderr } = await runMain([], env);
    expect(code).toBe(2);
    expect(stderr).toMatch(pattern);
  });

  it("rejects a malformed tenants file with exit code 2", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "chatmemory-tenants-")), "tenants.json");
    writeFileSync(file, JSON.stringify({ "team:a": { token_sha256: ["00"] } }));
    const { code, stderr } = await runMain([], { CHATMEMORY_AUTH: "token", CHATMEMORY_TENANTS_FILE: file });
    expect(code).toBe(2);
    expect(stderr).toMatch(/tenant name/);
  });
});
