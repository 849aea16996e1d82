/**
 * An in-process ChatMemory server on a free loopback port, with its own store
 * and key prefix, and a TypeScript client connected to it.
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import type { TenantResolver } from "../../src/service/tenancy.js";
import { type ChatMemoryClient, type ChatMemoryClientOptions, createChatMemoryClient } from "../../clients/typescript/src/index.js";
import { SETTINGS } from "../../src/settings.js";
import type { CallTracer } from "../../src/grpc/adapter.js";
import type { ServerSecurity } from "../../src/grpc/server-credentials.js";
import type { RedisCommandHook } from "../../src/store/redis-command-hook.js";
import type { ServerMetrics } from "../../src/metrics/server-metrics.js";
import { type ChatMemoryServer, createChatMemoryServer } from "../../src/server.js";
import type { ChatStore } from "../../src/store/chat-store.js";
import { windowPolicy } from "../../src/store/create-store.js";
import { elementDecoding } from "../../src/store/decoded-element-cache.js";
import { MemoryChatStore } from "../../src/store/memory-chat-store.js";
import { servingStatus } from "./health-client.js";
import { RedisChatStore } from "../../src/store/redis-chat-store.js";
import type { HostPort } from "../../src/host-port.js";
import type { RedisCredentials, RedisTarget } from "../../src/store/redis-connection.js";
import { createTokenCounter, type TokenEncoding } from "../../src/tokens/token-counter.js";

export type StoreKind = "memory" | "redis";

export interface TestServerOptions {
  store: StoreKind;
  redisUrl?: string;
  /** Redis Cluster seed nodes, instead of redisUrl. */
  redisClusterNodes?: HostPort[];
  /** Sentinels and the primary's name, instead of redisUrl. */
  redisSentinels?: { sentinels: HostPort[]; masterName: string };
  keyPrefix?: string;
  maxTurns?: number;
  maxPinned?: number;
  tokenEncoding?: TokenEncoding;
  toolSafeWindow?: boolean;
  /** Most messages held for a slow Watch reader (CHATMEMORY_WATCH_BUFFER). */
  watchBufferMessages?: number;
  ttlSeconds?: number;
  requestIdTtlSeconds?: number;
  maxBatch?: number;
  maxContentBytes?: number;
  maxReceiveBytes?: number;
  redisTimeoutMs?: number;
  healthIntervalMs?: number;
  /** Decoded-element cache size; default: the server's default (0 = off). */
  decodeCacheMb?: number;
  /** CA for a test Redis with TLS: a rediss:// URL, or TLS to the cluster or the Sentinels when set. */
  redisTlsCa?: Buffer;
  /** ACL users and passwords for Redis and the Sentinels. */
  redisCredentials?: RedisCredentials;
  security?: ServerSecurity;
  resolveTenant?: TenantResolver;
  /** Prometheus metrics recorded by the server (TestServer.metrics). */
  metrics?: ServerMetrics;
  /** Traces calls (src/tracing) and the Redis commands they send. */
  tracer?: CallTracer;
  redisCommandHook?: RedisCommandHook;
  /** Options for the ready-made client (TLS credentials, bearer token, ...). */
  clientOptions?: Omit<ChatMemoryClientOptions, "address">;
}

export interface TestServer {
  address: string;
  keyPrefix: string;
  client: ChatMemoryClient;
  store: ChatStore;
  server: ChatMemoryServer;
  close(): Promise<void>;
}

export const testLogger = pino({ level: process.env.CHATMEMORY_TEST_LOG_LEVEL ?? "silent" });

export function createTestStore(options: TestServerOptions, keyPrefix: string): ChatStore {
  const window = windowPolicy({
    maxTurns: options.maxTurns ?? 10,
    ttlSeconds: options.ttlSeconds,
    requestIdTtlSeconds: options.requestIdTtlSeconds ?? SETTINGS.requestIdTtlSeconds.default,
    maxPinned: options.maxPinned ?? SETTINGS.maxPinned.default,
    toolSafeWindow: options.toolSafeWindow ?? SETTINGS.toolSafeWindow.default,
  });
  const cacheBytes = (options.decodeCacheMb ?? SETTINGS.decodeCacheMb.default) * 1024 * 1024;
  if (options.store === "memory") return new MemoryChatStore({ window, sweepIntervalMs: 100, decoding: elementDecoding(cacheBytes) });
  const tls = options.redisTlsCa !== undefined;
  const target: RedisTarget | undefined = options.redisClusterNodes
    ? { kind: "cluster", nodes: options.redisClusterNodes, tls }
    : options.redisSentinels
      ? { kind: "sentinel", ...options.redisSentinels, tls }
      : options.redisUrl
        ? { kind: "standalone", url: options.redisUrl }
        : undefined;
  if (!target) throw new Error("redis store needs redisUrl, redisClusterNodes or redisSentinels");
  return new RedisChatStore({
    target,
    keyPrefix,
    window,
    connections: 1,
    commandTimeoutMs: options.redisTimeoutMs ?? 1000,
    tlsCa: options.redisTlsCa,
    credentials: options.redisCredentials,
    logger: testLogger,
    historyCacheBytes: cacheBytes,
    commandHook: options.redisCommandHook,
  });
}

export async function startTestServer(options: TestServerOptions): Promise<TestServer> {
  const keyPrefix = options.keyPrefix ?? `test-${randomUUID()}`;
  const store = createTestStore(options, keyPrefix);
  if (store instanceof RedisChatStore) await store.waitUntilReady(5000);
  const tokenCounter = createTokenCounter(options.tokenEncoding ?? SETTINGS.tokenEncoding.default);
  const server = createChatMemoryServer({
    store,
    tokenCounter,
    logger: testLogger,
    limits: { maxBatch: options.maxBatch ?? 100, maxContentBytes: options.maxContentBytes ?? 1024 * 1024 },
    maxReceiveBytes: options.maxReceiveBytes ?? 8 * 1024 * 1024,
    healthIntervalMs: options.healthIntervalMs ?? 100,
    security: options.security,
    resolveTenant: options.resolveTenant,
    metrics: options.metrics,
    tracer: options.tracer,
    toolSafeWindow: options.toolSafeWindow,
    watchBufferMessages: options.watchBufferMessages,
  });
  const port = await server.listen("127.0.0.1:0");
  const address = `127.0.0.1:${port}`;
  // Retries off unless a test asks: these tests observe the server's answer to each call (fault
  // timings, status codes); the retry policy itself is tested in client-retry.test.ts.
  const client = createChatMemoryClient({
    address,
    ...options.clientOptions,
    channelOptions: { "grpc.enable_retries": 0, ...options.clientOptions?.channelOptions },
  });
  return {
    address,
    keyPrefix,
    client,
    store,
    server,
    async close() {
      client.close();
      await server.shutdown(1000);
      await store.close();
      await tokenCounter.close();
    },
  };
}

/**
 * Starts a server with `options`, lets its store try for `settleMs`, and returns what its health
 * service says (then closes it): for stores that must never come up (wrong CA, wrong password).
 */
export async function healthOfFreshServer(options: TestServerOptions, settleMs = 500): Promise<string> {
  const server = await startTestServer(options);
  try {
    await sleep(settleMs);
    return await servingStatus(server.address);
  } finally {
    await server.close();
  }
}

/** The gRPC status code of a rejected promise (fails the test if it resolves). */
export async function statusOf(promise: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await promise;
  } catch (error: unknown) {
    const { code, details } = error as grpc.ServiceError;
    return { code, details };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

export function uniqueId(label = "conv"): string {
  return `${label}-${randomUUID()}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns true or `timeoutMs` passes; returns the elapsed ms or throws. */
export async function waitFor(probe: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 25): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
