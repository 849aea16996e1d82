/** Picks the store from the configuration: Redis when a URL is set, else the embedded memory store. */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { type Config, secondsToPexpireMs, ttlMilliseconds } from "../config.js";
import type { ChatStore, WindowPolicy } from "./chat-store.js";
import { elementDecoder } from "./decoded-element-cache.js";
import { MemoryChatStore } from "./memory-chat-store.js";
import { RedisChatStore } from "./redis-chat-store.js";
import type { RedisTarget } from "./redis-connection.js";

export function windowPolicy(config: Pick<Config, "maxTurns" | "ttlSeconds" | "requestIdTtlSeconds">): WindowPolicy {
  return {
    maxMessages: config.maxTurns * 2,
    ttlMs: ttlMilliseconds(config.ttlSeconds),
    requestIdTtlMs: secondsToPexpireMs(config.requestIdTtlSeconds),
  };
}

/** Where Redis is, from the configuration; undefined = no Redis (the embedded store). */
export function redisTarget(
  config: Pick<Config, "redisUrl" | "redisClusterNodes" | "redisSentinels" | "redisSentinelMaster" | "redisTls">,
): RedisTarget | undefined {
  if (config.redisUrl !== undefined) return { kind: "standalone", url: config.redisUrl };
  if (config.redisClusterNodes !== undefined) return { kind: "cluster", nodes: config.redisClusterNodes, tls: config.redisTls };
  if (config.redisSentinels !== undefined && config.redisSentinelMaster !== undefined) {
    return { kind: "sentinel", sentinels: config.redisSentinels, masterName: config.redisSentinelMaster, tls: config.redisTls };
  }
  return undefined;
}

export async function createStore(config: Readonly<Config>, logger: Logger): Promise<ChatStore> {
  const window = windowPolicy(config);
  const cacheBytes = config.decodeCacheMb * 1024 * 1024;
  const target = redisTarget(config);
  if (target === undefined) return new MemoryChatStore({ window, decodeElement: elementDecoder(cacheBytes) });
  const store = new RedisChatStore({
    target,
    keyPrefix: config.keyPrefix,
    window,
    connections: config.redisConnections,
    commandTimeoutMs: config.redisTimeoutMs,
    tlsCa: config.redisTlsCa === undefined ? undefined : readFileSync(config.redisTlsCa),
    credentials: {
      username: config.redisUsername,
      password: config.redisPassword,
      sentinelUsername: config.redisSentinelUsername,
      sentinelPassword: config.redisSentinelPassword,
    },
    logger,
    historyCacheBytes: cacheBytes,
  });
  if (!(await store.waitUntilReady(Math.max(config.redisTimeoutMs, 2000)))) {
    logger.warn("redis is not reachable yet; serving NOT_SERVING until it is");
  }
  return store;
}
