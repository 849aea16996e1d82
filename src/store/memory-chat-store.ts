/**
 * The embedded ChatStore: the default when no Redis is configured, so the
 * server runs on a fresh machine. Same window, TTL, request-id and element
 * format as the Redis store (elements are kept as the same JSON strings), but
 * data lives in this process only: lost on restart and not shared between
 * replicas.
 */
import {
  type AppendIdempotency,
  type AppendResult,
  type ChatStore,
  type HistoryReadResult,
  RequestIdReusedError,
  type StoredMessage,
  type WindowPolicy,
} from "./chat-store.js";
import { decodeStoredWindow, type ElementDecoding, encodeStoredMessage, PLAIN_DECODING } from "./message-codec.js";
import { RingWindow } from "./ring-window.js";

interface Conversation {
  /** The stored JSON elements, at most the window's size. */
  elements: RingWindow<string>;
  /** Epoch ms after which the conversation is gone; undefined = no expiry. */
  expiresAt: number | undefined;
}

interface RememberedRequest {
  count: number;
  fingerprint: string;
  expiresAt: number;
}

/**
 * A conversation's remembered request ids, kept apart from its messages like
 * the Redis companion keys, so they outlive an expired list the same way.
 * Insertion order is expiry order (every id lives the same time), so pruning
 * stops at the first live one.
 */
interface RequestLog {
  requests: Map<string, RememberedRequest>;
  expiresAt: number;
}

export interface MemoryChatStoreOptions {
  window: WindowPolicy;
  /** How often expired conversations are swept out of memory (reads check expiry themselves). */
  sweepIntervalMs?: number;
  /** Clock in epoch ms; tests may pass their own. */
  now?: () => number;
  /** Decodes stored elements on reads (e.g. a caching one); default: JSON.parse every time. */
  decoding?: ElementDecoding;
}

export class MemoryChatStore implements ChatStore {
  readonly kind = "memory";
  readonly #conversations = new Map<string, Conversation>();
  readonly #requestLogs = new Map<string, RequestLog>();
  readonly #window: WindowPolicy;
  readonly #now: () => number;
  readonly #decoding: ElementDecoding;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryChatStoreOptions) {
    this.#window = options.window;
    this.#now = options.now ?? Date.now;
    this.#decoding = options.decoding ?? PLAIN_DECODING;
    this.#sweeper = setInterval(() => this.#sweepExpired(), options.sweepIntervalMs ?? 1000);
    this.#sweeper.unref();
  }

  /** The live conversation, or undefined when unknown or expired (expired ones are dropped here). */
  #live(conversationId: string): Conversation | undefined {
    const conversation = this.#conversations.get(conversationId);
    if (conversation?.expiresAt !== undefined && conversation.expiresAt <= this.#now()) {
      this.#conversations.delete(conversationId);
      return undefined;
    }
    return conversation;
  }

  /** The conversation's request log with expired ids pruned, or undefined when it has none. */
  #liveRequestLog(conversationId: string, now: number): RequestLog | undefined {
    const log = this.#requestLogs.get(conversationId);
    if (!log) return undefined;
    if (log.expiresAt <= now) {
      this.#requestLogs.delete(conversationId);
      return undefined;
    }
    for (const [requestId, request] of log.requests) {
      if (request.expiresAt > now) break;
      log.requests.delete(requestId);
    }
    return log;
  }

  async append(conversationId: string, messages: readonly StoredMessage[], idempotency?: AppendIdempotency): Promise<AppendResult> {
    const now = this.#now();
    if (idempotency) {
      const previous = this.#liveRequestLog(conversationId, now)?.requests.get(idempotency.requestId);
      if (previous) {
        if (previous.fingerprint !== idempotency.fingerprint) throw new RequestIdReusedError("request_id was used for different messages");
        return { count: previous.count, replayed: true };
      }
    }

    const encoded = messages.map(encodeStoredMessage);
    let conversation = this.#live(conversationId);
    if (!conversation) {
      conversation = { elements: new RingWindow(this.#window.maxMessages), expiresAt: undefined };
      this.#conversations.set(conversationId, conversation);
    }
    conversation.elements.push(encoded);
    if (this.#window.ttlMs !== undefined) conversation.expiresAt = now + this.#window.ttlMs;
    const count = conversation.elements.length;

    if (idempotency) {
      const expiresAt = now + this.#window.requestIdTtlMs;
      const log = this.#requestLogs.get(conversationId) ?? { requests: new Map(), expiresAt };
      log.requests.set(idempotency.requestId, { count, fingerprint: idempotency.fingerprint, expiresAt });
      log.expiresAt = expiresAt;
      this.#requestLogs.set(conversationId, log);
    }
    return { count, replayed: false };
  }

  async getHistory(conversationId: string, limit: number): Promise<HistoryReadResult> {
    const elements = this.#live(conversationId)?.elements;
    return decodeStoredWindow(elements ? elements.newest(limit) : [], this.#decoding);
  }

  async clear(conversationId: string): Promise<boolean> {
    const existed = this.#live(conversationId) !== undefined;
    this.#conversations.delete(conversationId);
    this.#requestLogs.delete(conversationId);
    return existed;
  }

  async count(conversationId: string): Promise<number> {
    return this.#live(conversationId)?.elements.length ?? 0;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#conversations.clear();
    this.#requestLogs.clear();
  }

  #sweepExpired(): void {
    const now = this.#now();
    for (const [id, conversation] of this.#conversations) {
      if (conversation.expiresAt !== undefined && conversation.expiresAt <= now) this.#conversations.delete(id);
    }
    for (const [id, log] of this.#requestLogs) {
      if (log.expiresAt <= now) this.#requestLogs.delete(id);
    }
  }
}
