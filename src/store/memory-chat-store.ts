/**
 * The embedded ChatStore: the default when no Redis is configured, so the
 * server runs on a fresh machine. Same window, TTL and element format as the
 * Redis store (elements are kept as the same JSON strings), but data lives in
 * this process only: lost on restart and not shared between replicas.
 */
import type { ChatStore, HistoryReadResult, StoredMessage, WindowPolicy } from "./chat-store.js";
import { decodeStoredWindow, encodeStoredMessage } from "./message-codec.js";

interface Conversation {
  elements: string[];
  /** Epoch ms after which the conversation is gone; undefined = no expiry. */
  expiresAt: number | undefined;
}

export interface MemoryChatStoreOptions {
  window: WindowPolicy;
  /** How often expired conversations are swept out of memory (reads check expiry themselves). */
  sweepIntervalMs?: number;
  /** Clock in epoch ms; tests may pass their own. */
  now?: () => number;
}

export class MemoryChatStore implements ChatStore {
  readonly kind = "memory";
  readonly #conversations = new Map<string, Conversation>();
  readonly #window: WindowPolicy;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryChatStoreOptions) {
    this.#window = options.window;
    this.#now = options.now ?? Date.now;
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

  async append(conversationId: string, messages: readonly StoredMessage[]): Promise<number> {
    const encoded = messages.map(encodeStoredMessage);
    let conversation = this.#live(conversationId);
    if (!conversation) {
      conversation = { elements: [], expiresAt: undefined };
      this.#conversations.set(conversationId, conversation);
    }
    conversation.elements.push(...encoded);
    const excess = conversation.elements.length - this.#window.maxMessages;
    if (excess > 0) conversation.elements.splice(0, excess);
    if (this.#window.ttlMs !== undefined) conversation.expiresAt = this.#now() + this.#window.ttlMs;
    return conversation.elements.length;
  }

  async getHistory(conversationId: string, limit: number): Promise<HistoryReadResult> {
    const elements = this.#live(conversationId)?.elements ?? [];
    return decodeStoredWindow(limit > 0 ? elements.slice(-limit) : elements);
  }

  async clear(conversationId: string): Promise<boolean> {
    const existed = this.#live(conversationId) !== undefined;
    this.#conversations.delete(conversationId);
    return existed;
  }

  async count(conversationId: string): Promise<number> {
    return this.#live(conversationId)?.elements.length ?? 0;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#conversations.clear();
  }

  #sweepExpired(): void {
    const now = this.#now();
    for (const [id, conversation] of this.#conversations) {
      if (conversation.expiresAt !== undefined && conversation.expiresAt <= now) this.#conversations.delete(id);
    }
  }
}
