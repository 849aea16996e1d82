/**
 * ChatStore on Redis through ioredis, in the Python class's layout: one List
 * per conversation under `<keyPrefix>:<conversationId>`, one JSON element per
 * message. Connections are made once and shared by every request.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import {
  type AppendIdempotency,
  type AppendResult,
  type ChatStore,
  type HistoryReadResult,
  RequestIdReusedError,
  type StoredMessage,
  type WindowPolicy,
} from "./chat-store.js";
import { decodeStoredWindow, encodeStoredMessage } from "./message-codec.js";
import { toStoreError } from "./redis-errors.js";
import { conversationKeys, defineScriptCommands, listKey } from "./redis-scripts.js";

export interface RedisChatStoreOptions {
  url: string;
  keyPrefix: string;
  window: WindowPolicy;
  /** How many connections to open; requests are spread over them round-robin. */
  connections: number;
  /** Every Redis command fails after this long (then UNAVAILABLE), so no call hangs on a stuck Redis. */
  commandTimeoutMs: number;
  logger: Logger;
}

/** Upper bound for reconnect back-off, so a returning Redis is picked up within about a second. */
const MAX_RECONNECT_DELAY_MS = 500;

export class RedisChatStore implements ChatStore {
  readonly kind = "redis";
  readonly #clients: Redis[];
  readonly #keyPrefix: string;
  readonly #window: WindowPolicy;
  #next = 0;

  constructor(options: RedisChatStoreOptions) {
    this.#keyPrefix = options.keyPrefix;
    this.#window = options.window;
    const redisOptions: RedisOptions = {
      enableAutoPipelining: true,
      // Fail fast while disconnected instead of queueing: callers get UNAVAILABLE and can retry elsewhere.
      enableOfflineQueue: false,
      // Never replay a command after a dropped connection: an Append may already have run.
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs, 1000),
      retryStrategy: (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS),
      connectionName: "chatmemory",
    };
    this.#clients = Array.from({ length: options.connections }, (_, index) => {
      const client = new Redis(options.url, redisOptions);
      defineScriptCommands(client);
      // ioredis emits 'error' on every failed reconnect; health reports the outage, so keep this at debug.
      client.on("error", (error: Error) => options.logger.debug({ err: error, connection: index }, "redis connection error"));
      return client;
    });
  }

  /** Resolves once every connection is ready, or after `timeoutMs` (the health monitor reports the rest). */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    const ready = (client: Redis) =>
      client.status === "ready" ? Promise.resolve() : new Promise<void>((resolve) => client.once("ready", resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([Promise.all(this.#clients.map(ready)).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #client(): Redis {
    const client = this.#clients[this.#next] as Redis;
    this.#next = (this.#next + 1) % this.#clients.length;
    return client;
  }

  #key(conversationId: string): string {
    return listKey(this.#keyPrefix, conversationId);
  }

  async append(conversationId: string, messages: readonly StoredMessage[], idempotency?: AppendIdempotency): Promise<AppendResult> {
    const elements = messages.map(encodeStoredMessage);
    const { maxMessages, ttlMs, requestIdTtlMs } = this.#window;
    const [count, previousFingerprint] = await this.#run(() =>
      this.#client().chatmemoryAppend(
        ...conversationKeys(this.#keyPrefix, conversationId),
        maxMessages,
        ttlMs ?? 0,
        idempotency?.requestId ?? "",
        idempotency?.fingerprint ?? "",
        requestIdTtlMs,
        ...elements,
      ),
    );
    if (previousFingerprint === "") return { count, replayed: false };
    if (previousFingerprint !== idempotency?.fingerprint) throw new RequestIdReusedError("request_id was used for different messages");
    return { count, replayed: true };
  }

  async getHistory(conversationId: string, limit: number): Promise<HistoryReadResult> {
    const start = limit > 0 ? -limit : 0;
    const raw = await this.#run(() => this.#client().lrange(this.#key(conversationId), start, -1));
    return decodeStoredWindow(raw);
  }

  async clear(conversationId: string): Promise<boolean> {
    const existed = await this.#run(() => this.#client().chatmemoryClear(...conversationKeys(this.#keyPrefix, conversationId)));
    return existed === 1;
  }

  async count(conversationId: string): Promise<number> {
    return this.#run(() => this.#client().llen(this.#key(conversationId)));
  }

  async ping(): Promise<void> {
    await Promise.all(this.#clients.map((client) => this.#run(() => client.ping())));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#clients.map(async (client) => {
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
      }),
    );
  }

  async #run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error: unknown) {
      throw toStoreError(error);
    }
  }
}
