/** Picks the store from the configuration: Redis when a URL is set, else the embedded memory store. */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { type Config, secondsToPexpireMs, ttlMilliseconds } from "../config.js";
import type { ChatStore, WindowPolicy } from "./chat-store.js";
import { MemoryChatStore } from "./memory-chat-store.js";
import { RedisChatStore } from "./redis-chat-store.js";

export function windowPolicy(config: Pick<Config, "maxTurns" | "ttlSeconds" | "requestIdTtlSeconds">): WindowPolicy {
  return {
    maxMessages: config.maxTurns * 2,
    ttlMs: ttlMilliseconds(config.ttlSeconds),
    requestIdTtlMs: secondsToPexpireMs(config.requestIdTtlSeconds),
  };
}

export async function createStore(config: Readonly<Config>, logger: Logger): Promise<ChatStore> {
  const window = windowPolicy(config);
  if (config.redisUrl === undefined) return new MemoryChatStore({ window });
  const store = new RedisChatStore({
    url: config.redisUrl,
    keyPrefix: config.keyPrefix,
    window,
    connections: config.redisConnections,
    commandTimeoutMs: config.redisTimeoutMs,
    tlsCa: config.redisTlsCa === undefined ? undefined : readFileSync(config.redisTlsCa),
    logger,
  });
  if (!(await store.waitUntilReady(Math.max(config.redisTimeoutMs, 2000)))) {
    logger.warn("redis is not reachable yet; serving NOT_SERVING until it is");
  }
  return store;
}
