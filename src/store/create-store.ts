/** Picks the store from the settings: Redis when one is configured, else the embedded memory store. */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { HostPort } from "../host-port.js";
import type { ChatStore, WindowPolicy } from "./chat-store.js";
import { elementDecoding } from "./decoded-element-cache.js";
import { MemoryChatStore } from "./memory-chat-store.js";
import { RedisChatStore } from "./redis-chat-store.js";
import type { RedisCommandHook } from "./redis-command-hook.js";
import type { RedisTarget } from "./redis-connection.js";

/** The settings a store is made from (the server's Config has them under the same names). */
export interface StoreSettings {
  maxTurns: number;
  maxPinned: number;
  toolSafeWindow: boolean;
  /** Conversation TTL in seconds (fractions allowed); undefined = never expire. */
  ttlSeconds: number | undefined;
  requestIdTtlSeconds: number;
  keyPrefix: string;
  decodeCacheMb: number;
  redisUrl: string | undefined;
  redisClusterNodes: HostPort[] | undefined;
  redisSentinels: HostPort[] | undefined;
  redisSentinelMaster: string | undefined;
  redisTls: boolean;
  redisTlsCa: string | undefined;
  redisUsername: string | undefined;
  redisPassword: string | undefined;
  redisSentinelUsername: string | undefined;
  redisSentinelPassword: string | undefined;
  redisConnections: number;
  redisTimeoutMs: number;
}

/** PEXPIRE milliseconds for a duration in seconds: rounded, at least 1 (never the Python class's EXPIRE 0). */
export function secondsToPexpireMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

export function windowPolicy(
  settings: Pick<StoreSettings, "maxTurns" | "ttlSeconds" | "requestIdTtlSeconds" | "maxPinned" | "toolSafeWindow">,
): WindowPolicy {
  return {
    maxMessages: settings.maxTurns * 2,
    maxPinned: settings.maxPinned,
    toolSafe: settings.toolSafeWindow,
    ttlMs: settings.ttlSeconds === undefined ? undefined : secondsToPexpireMs(settings.ttlSeconds),
    requestIdTtlMs: secondsToPexpireMs(settings.requestIdTtlSeconds),
  };
}

/** Where Redis is; undefined = no Redis (the embedded store). */
export function redisTarget(
  settings: Pick<StoreSettings, "redisUrl" | "redisClusterNodes" | "redisSentinels" | "redisSentinelMaster" | "redisTls">,
): RedisTarget | undefined {
  if (settings.redisUrl !== undefined) return { kind: "standalone", url: settings.redisUrl };
  if (settings.redisClusterNodes !== undefined) return { kind: "cluster", nodes: settings.redisClusterNodes, tls: settings.redisTls };
  if (settings.redisSentinels !== undefined && settings.redisSentinelMaster !== undefined) {
    return { kind: "sentinel", sentinels: settings.redisSentinels, masterName: settings.redisSentinelMaster, tls: settings.redisTls };
  }
  return undefined;
}

/** Hooks a store calls into (tracing); all optional. */
export interface StoreHooks {
  /** Around every Redis command a request sends. */
  redisCommands?: RedisCommandHook | undefined;
}

export async function createStore(settings: Readonly<StoreSettings>, logger: Logger, hooks: StoreHooks = {}): Promise<ChatStore> {
  const window = windowPolicy(settings);
  const cacheBytes = settings.decodeCacheMb * 1024 * 1024;
  const target = redisTarget(settings);
  if (target === undefined) return new MemoryChatStore({ window, decoding: elementDecoding(cacheBytes) });
  const store = new RedisChatStore({
    target,
    keyPrefix: settings.keyPrefix,
    window,
    connections: settings.redisConnections,
    commandTimeoutMs: settings.redisTimeoutMs,
    tlsCa: settings.redisTlsCa === undefined ? undefined : readFileSync(settings.redisTlsCa),
    credentials: {
      username: settings.redisUsername,
      password: settings.redisPassword,
      sentinelUsername: settings.redisSentinelUsername,
      sentinelPassword: settings.redisSentinelPassword,
    },
    logger,
    historyCacheBytes: cacheBytes,
    commandHook: hooks.redisCommands,
  });
  if (!(await store.waitUntilReady(Math.max(settings.redisTimeoutMs, 2000)))) {
    logger.warn("redis is not reachable yet; serving NOT_SERVING until it is");
  }
  return store;
}
