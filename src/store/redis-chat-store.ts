/**
 * ChatStore on Redis through ioredis, in the Python class's layout: one List
 * per conversation under `<keyPrefix>:<conversationId>`, one JSON element per
 * message. Connections are made once and shared by every request.
 */
import { Cluster } from "ioredis";
import type { Logger } from "pino";
import {
  type AppendOptions,
  type AppendResult,
  type ChangeListener,
  type ChangeSubscription,
  type ChatStore,
  type ConversationCounts,
  type DeletedMessages,
  type ConversationPage,
  type HistoryReadResult,
  type ListCursor,
  PinnedLimitError,
  RequestIdReusedError,
  type StoredMessage,
  type WindowPolicy,
} from "./chat-store.js";
import { newEpoch } from "./epoch.js";
import { decodeElements, decodeHistory, deletedMessages, type ElementDecoding, encodeStoredMessage } from "./message-codec.js";
import { DecodedElementCache, elementDecoding } from "./decoded-element-cache.js";
import { toStoreError } from "./redis-errors.js";
import { sendFollowingSlotMoves } from "./redis-redirections.js";
import { openRedisConnection, type RedisConnection, type RedisCredentials, type RedisTarget } from "./redis-connection.js";
import type { RedisCommand, RedisCommandHook } from "./redis-command-hook.js";
import { changeChannel, conversationKeys, defineScriptCommands } from "./redis-scripts.js";
import { RedisChangeFeed } from "./redis-change-feed.js";
import { ConversationIndex, type ListBuckets, listFromIndex } from "./redis-conversation-index.js";
import { WindowCache } from "./window-cache.js";

export interface RedisChatStoreOptions {
  target: RedisTarget;
  keyPrefix: string;
  window: WindowPolicy;
  /** How many connections to open; requests are spread over them round-robin. */
  connections: number;
  /** Every Redis command fails after this long (then UNAVAILABLE), so no call hangs on a stuck Redis. */
  commandTimeoutMs: number;
  /** PEM CA bundle to verify Redis's TLS certificates with (rediss://, or a target with `tls`); default: the system's CAs. */
  tlsCa?: string | Buffer | undefined;
  /** ACL users and passwords beyond the URL's (Cluster, Sentinel). */
  credentials?: RedisCredentials | undefined;
  logger: Logger;
  /**
   * Memory for reads: half for decoded elements (DecodedElementCache), half for whole windows
   * (WindowCache); 0 or unset = JSON.parse every element of every read.
   */
  historyCacheBytes?: number;
  /** Wraps every command a request sends (tracing); default none. */
  commandHook?: RedisCommandHook | undefined;
}

/** The commands the store sends: each request is one Lua script, run by EVALSHA (ioredis resends it as EVAL when Redis answers NOSCRIPT). */
const SCRIPT = {
  write: { operation: "EVALSHA", script: "chatmemoryWrite" },
  delete: { operation: "EVALSHA", script: "chatmemoryDelete" },
  read: { operation: "EVALSHA", script: "chatmemoryRead" },
  count: { operation: "EVALSHA", script: "chatmemoryCount" },
  clear: { operation: "EVALSHA", script: "chatmemoryClear" },
  list: { operation: "EVALSHA", script: "chatmemoryListBuckets" },
} as const satisfies Record<string, RedisCommand>;
const PING: RedisCommand = { operation: "PING" };

export class RedisChatStore implements ChatStore {
  readonly kind = "redis";
  readonly #clients: RedisConnection[];
  readonly #keyPrefix: string;
  readonly #window: WindowPolicy;
  readonly #decoding: ElementDecoding;
  readonly #windows: WindowCache | undefined;
  readonly #hook: RedisCommandHook | undefined;
  readonly #index: ConversationIndex;
  readonly #changes: RedisChangeFeed;
  /** On Cluster, commands follow slot moves (redis-redirections.ts); elsewhere nothing moves. */
  readonly #cluster: boolean;
  #next = 0;

  constructor(options: RedisChatStoreOptions) {
    this.#keyPrefix = options.keyPrefix;
    this.#window = options.window;
    this.#hook = options.commandHook;
    this.#cluster = options.target.kind === "cluster";
    this.#index = new ConversationIndex(options.keyPrefix, this.#cluster);
    const cacheBytes = options.historyCacheBytes ?? 0;
    const elementBytes = Math.floor(cacheBytes / 2);
    this.#decoding = elementDecoding(elementBytes);
    // The window cache shares the element cache's messages, so it exists only beside one.
    this.#windows = this.#decoding instanceof DecodedElementCache ? new WindowCache(cacheBytes - elementBytes, this.#decoding) : undefined;
    const connectionSettings = { commandTimeoutMs: options.commandTimeoutMs, tlsCa: options.tlsCa, credentials: options.credentials };
    this.#changes = new RedisChangeFeed({
      open: () => openRedisConnection(options.target, { ...connectionSettings, subscriber: true }),
      readyTimeoutMs: options.commandTimeoutMs,
      logger: options.logger,
    });
    this.#clients = Array.from({ length: options.connections }, (_, index) => {
      const client = openRedisConnection(options.target, connectionSettings);
      defineScriptCommands(client);
      // ioredis emits 'error' on every failed reconnect; health reports the outage, so keep this at debug.
      client.on("error", (error: Error) => options.logger.debug({ err: error, connection: index }, "redis connection error"));
      return client;
    });
  }

  /** Resolves once every connection is ready, or after `timeoutMs` (the health monitor reports the rest). */
  async waitUntilReady(timeoutMs: number): Promise<boolean> {
    const ready = (client: RedisConnection) =>
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

  #client(): RedisConnection {
    const client = this.#clients[this.#next] as RedisConnection;
    this.#next = (this.#next + 1) % this.#clients.length;
    return client;
  }

  append(conversationId: string, messages: readonly StoredMessage[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#write("append", conversationId, messages, options);
  }

  replace(conversationId: string, messages: readonly StoredMessage[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#write("replace", conversationId, messages, options);
  }

  async deleteMessages(conversationId: string, seqs: readonly number[]): Promise<DeletedMessages> {
    const [list, pinned, meta] = conversationKeys(this.#keyPrefix, conversationId);
    const reply = await this.#run(SCRIPT.delete, () => this.#client().chatmemoryDelete(list, pinned, meta, newEpoch(), ...seqs.map(String)));
    return deletedMessages(reply, this.#decoding.decode);
  }

  async #write(mode: "append" | "replace", conversationId: string, messages: readonly StoredMessage[], options: AppendOptions): Promise<AppendResult> {
    const elements = messages.map(encodeStoredMessage);
    const { idempotency, pinned } = options;
    const { maxMessages, requestIdTtlMs, maxPinned, toolSafe } = this.#window;
    const [count, previous, firstSeq, lastSeq] = await this.#run(SCRIPT.write, () =>
      this.#client().chatmemoryWrite(
        ...this.#keysWithIndex(conversationId),
        maxMessages,
        options.ttlMs ?? this.#window.ttlMs ?? 0,
        idempotency?.requestId ?? "",
        idempotency?.fingerprint ?? "",
        requestIdTtlMs,
        maxPinned,
        toolSafe ? "1" : "0",
        messages.map((_, index) => (pinned?.[index] ? "1" : "0")).join(""),
        newEpoch(),
        mode,
        Date.now(),
        ...elements,
      ),
    );
    if (count < 0) throw new PinnedLimitError(Number(previous), maxPinned);
    if (previous === "") return { count, replayed: false, firstSeq, lastSeq };
    if (previous !== idempotency?.fingerprint) throw new RequestIdReusedError("request_id was used for different messages");
    return { count, replayed: true, firstSeq, lastSeq };
  }

  async getHistory(conversationId: string, newest: number): Promise<HistoryReadResult> {
    const [list, pinnedKey, meta] = conversationKeys(this.#keyPrefix, conversationId);
    const start = newest > 0 ? -newest : 0;
    const windows = this.#windows;
    if (windows === undefined) {
      const [pinned, window, windowLength, epoch, lastSeq] = await this.#run(SCRIPT.read, () => this.#client().chatmemoryRead(list, pinnedKey, meta, start));
      return decodeHistory({ pinned, window, windowLength, epoch, lastSeq: Number(lastSeq) }, this.#decoding);
    }
    // Buffers, not strings: a window read again is recognised by comparing bytes.
    const [pinned, window, windowLength, epoch, lastSeq] = await this.#run(SCRIPT.read, () => this.#client().chatmemoryReadBuffer(list, pinnedKey, meta, start));
    const decodedWindow = windows.read(`${list}\u0000${start}`, window);
    const decodedPinned = decodeElements(
      pinned.map((element) => element.toString("utf8")),
      this.#decoding.decode,
    );
    return {
      pinned: decodedPinned.messages,
      messages: decodedWindow.messages,
      windowLength,
      epoch: epoch.toString("utf8"),
      lastSeq: Number(lastSeq.toString("utf8")),
      skippedCorrupt: decodedPinned.skipped + decodedWindow.skipped,
      sharing: { encodings: windows.encodings, window: true },
    };
  }

  async clear(conversationId: string): Promise<boolean> {
    const existed = await this.#run(SCRIPT.clear, () => this.#client().chatmemoryClear(...this.#keysWithIndex(conversationId)));
    return existed === 1;
  }

  async count(conversationId: string): Promise<ConversationCounts> {
    const [list, pinned] = conversationKeys(this.#keyPrefix, conversationId);
    const [count, pinnedCount] = await this.#run(SCRIPT.count, () => this.#client().chatmemoryCount(list, pinned));
    return { count, pinned: pinnedCount };
  }

  async listConversations(idPrefix: string, limit: number, cursor: ListCursor | undefined): Promise<ConversationPage> {
    const client = this.#client();
    const listBuckets: ListBuckets = (firstKey, min, max, bucketLimit, budget, laterMin, tags) =>
      this.#hooked(SCRIPT.list, () => client.chatmemoryListBuckets(firstKey, this.#keyPrefix, min, max, bucketLimit, budget, laterMin, ...tags));
    // On Cluster, a script call walks the buckets one node serves (by ioredis's slot map).
    const ownerOf = (slot: number) => (client instanceof Cluster ? client.slots[slot]?.[0] : undefined);
    // A slot that moved mid-page: the page is planned again from the same cursor, by the refreshed slot map.
    try {
      return await sendFollowingSlotMoves(this.#clients, () => listFromIndex(this.#index, listBuckets, ownerOf, idPrefix, limit, cursor));
    } catch (error: unknown) {
      throw toStoreError(error);
    }
  }

  /** The conversation's keys and its index bucket, as the write and clear scripts take them. */
  #keysWithIndex(conversationId: string) {
    const keys = conversationKeys(this.#keyPrefix, conversationId);
    return [...keys, this.#index.keyFor(keys[0])] as const;
  }

  watchChanges(conversationId: string, listener: ChangeListener): Promise<ChangeSubscription> {
    return this.#changes.subscribe(changeChannel(this.#keyPrefix, conversationId), listener);
  }

  async ping(): Promise<void> {
    await Promise.all(this.#clients.map((client) => this.#run(PING, () => client.ping())));
  }

  async close(): Promise<void> {
    await this.#changes.close();
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

  #hooked<T>(command: RedisCommand, send: () => Promise<T>): Promise<T> {
    return this.#hook === undefined ? send() : this.#hook.around(command, send);
  }

  async #run<T>(command: RedisCommand, send: () => Promise<T>): Promise<T> {
    try {
      // Only a Cluster client pays for the wrapper: every Redis call passes here.
      if (!this.#cluster) return await this.#hooked(command, send);
      return await sendFollowingSlotMoves(this.#clients, () => this.#hooked(command, send));
    } catch (error: unknown) {
      throw toStoreError(error);
    }
  }
}
