/**
 * The embedded ChatStore: the default when no Redis is configured, so the
 * server runs on a fresh machine. Same window, TTL, request-id and element
 * format as the Redis store (elements are kept as the same JSON strings), but
 * data lives in this process only: lost on restart and not shared between
 * replicas.
 */
import {
  type AppendOptions,
  type AppendResult,
  type ChangeListener,
  type ChangeSubscription,
  type ChatStore,
  type ConversationChange,
  type ConversationCounts,
  type ConversationPage,
  type DeletedMessages,
  type HistoryReadResult,
  type ListCursor,
  ListCursorError,
  type ListedConversation,
  PinnedLimitError,
  RequestIdReusedError,
  type StoredMessage,
  type WindowPolicy,
} from "./chat-store.js";
import { decodeHistory, decodeStoredMessage, deletedMessages, type ElementDecoding, encodeStoredMessage, PLAIN_DECODING } from "./message-codec.js";
import { newEpoch } from "./epoch.js";
import { RingWindow } from "./ring-window.js";
import { createRequire } from "node:module";

// sorted-btree is CommonJS with its class at `exports.default`: required as such, it is the same
// class under Node and under vitest's module loader (whose default-import interop differs).
const { default: BTree } = createRequire(import.meta.url)("sorted-btree") as typeof import("sorted-btree");

interface Conversation {
  /** The window's JSON elements, at most the window's size. */
  elements: RingWindow<string>;
  /** The pinned messages' JSON elements, in seq order. */
  pinned: string[];
  /** The last seq given. */
  seq: number;
  epoch: string;
  /** Epoch ms after which the conversation is gone; undefined = no expiry. */
  expiresAt: number | undefined;
  /** Epoch ms of the last Append or Replace. */
  appendedAt: number;
}

/** Whether a conversation holds any message, window or pinned (an emptied one keeps its counter). */
function holdsMessages(conversation: Conversation | undefined): boolean {
  return conversation !== undefined && (conversation.elements.length > 0 || conversation.pinned.length > 0);
}

interface RememberedRequest {
  count: number;
  firstSeq: number;
  lastSeq: number;
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
  /** The same ids in order (a B+ tree), so a listing page starts at its cursor instead of sorting every id. */
  readonly #ids = new BTree<string, true>();
  readonly #requestLogs = new Map<string, RequestLog>();
  readonly #window: WindowPolicy;
  readonly #now: () => number;
  readonly #decoding: ElementDecoding;
  readonly #sweeper: NodeJS.Timeout;
  readonly #listeners = new Map<string, Set<ChangeListener>>();

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
      this.#forget(conversationId);
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

  async append(conversationId: string, messages: readonly StoredMessage[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#write("append", conversationId, messages, options);
  }

  async replace(conversationId: string, messages: readonly StoredMessage[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#write("replace", conversationId, messages, options);
  }

  async deleteMessages(conversationId: string, seqs: readonly number[]): Promise<DeletedMessages> {
    const conversation = this.#live(conversationId);
    if (!conversation) return { messages: [] };
    const wanted = new Set(seqs);
    // The deleted as [pinnedFlag, element, ...], the form the Redis store's script returns.
    const deleted: string[] = [];
    const keep = (elements: readonly string[], flag: string) =>
      elements.filter((element) => {
        const seq = decodeStoredMessage(element)?.seq;
        if (seq === undefined || !wanted.has(seq)) return true;
        deleted.push(flag, element);
        return false;
      });
    const keptPinned = keep(conversation.pinned, "1");
    const keptWindow = keep(conversation.elements.newest(0), "0");
    if (deleted.length > 0) {
      conversation.pinned = keptPinned;
      conversation.elements = new RingWindow(this.#window.maxMessages);
      conversation.elements.push(keptWindow);
      conversation.epoch = newEpoch();
      this.#announce(conversationId, { kind: "rewrite", epoch: holdsMessages(conversation) ? conversation.epoch : "" });
    }
    return deletedMessages(deleted, this.#decoding.decode);
  }

  async #write(mode: "append" | "replace", conversationId: string, messages: readonly StoredMessage[], options: AppendOptions): Promise<AppendResult> {
    const now = this.#now();
    const { idempotency, pinned } = options;
    if (idempotency) {
      const previous = this.#liveRequestLog(conversationId, now)?.requests.get(idempotency.requestId);
      if (previous) {
        if (previous.fingerprint !== idempotency.fingerprint) throw new RequestIdReusedError("request_id was used for different messages");
        return { count: previous.count, replayed: true, firstSeq: previous.firstSeq, lastSeq: previous.lastSeq };
      }
    }
    let conversation = this.#live(conversationId);
    const replace = mode === "replace";
    const newPinned = pinned?.filter(Boolean).length ?? 0;
    const pinnedHeld = replace ? 0 : (conversation?.pinned.length ?? 0);
    if (newPinned > 0 && pinnedHeld + newPinned > this.#window.maxPinned) {
      let held = pinnedHeld;
      const index = messages.findIndex((_, i) => pinned?.[i] === true && ++held > this.#window.maxPinned);
      throw new PinnedLimitError(index, this.#window.maxPinned);
    }

    if (replace) {
      // On a conversation that holds nothing, an empty replace creates nothing.
      if (messages.length === 0 && !holdsMessages(conversation)) return { count: 0, replayed: false, firstSeq: 0, lastSeq: 0 };
      if (conversation) {
        conversation.elements = new RingWindow(this.#window.maxMessages);
        conversation.pinned = [];
        conversation.epoch = newEpoch();
      }
    }
    if (!conversation) {
      conversation = { elements: new RingWindow(this.#window.maxMessages), pinned: [], seq: 0, epoch: newEpoch(), expiresAt: undefined, appendedAt: now };
      this.#conversations.set(conversationId, conversation);
      this.#ids.set(conversationId, true);
    }
    conversation.appendedAt = now;
    const firstSeq = messages.length === 0 ? 0 : conversation.seq + 1;
    const window: string[] = [];
    messages.forEach((message, index) => {
      const element = encodeStoredMessage({ ...message, seq: firstSeq + index });
      if (pinned?.[index]) conversation.pinned.push(element);
      else window.push(element);
    });
    conversation.seq += messages.length;
    const { elements } = conversation;
    const trimmed = elements.length + window.length > this.#window.maxMessages;
    elements.push(window);
    // Tool-safe: a tool message whose assistant call was just trimmed goes too.
    if (trimmed && this.#window.toolSafe) {
      while (elements.length > 0 && decodeStoredMessage(elements.oldest() as string)?.role === "tool") elements.dropOldest();
    }
    const ttlMs = options.ttlMs ?? this.#window.ttlMs;
    if (ttlMs !== undefined) conversation.expiresAt = now + ttlMs;
    const count = elements.length;
    const lastSeq = messages.length === 0 ? 0 : conversation.seq;

    if (idempotency) {
      // Ids live their own time, but never longer than the conversation they belong to.
      const lifetime = conversation.expiresAt === undefined ? this.#window.requestIdTtlMs : Math.min(this.#window.requestIdTtlMs, conversation.expiresAt - now);
      const expiresAt = now + lifetime;
      const log = this.#requestLogs.get(conversationId) ?? { requests: new Map(), expiresAt };
      log.requests.set(idempotency.requestId, { count, firstSeq, lastSeq, fingerprint: idempotency.fingerprint, expiresAt });
      log.expiresAt = Math.max(log.expiresAt, expiresAt);
      this.#requestLogs.set(conversationId, log);
    }
    if (replace) this.#announce(conversationId, { kind: "rewrite", epoch: holdsMessages(conversation) ? conversation.epoch : "" });
    else if (messages.length > 0) this.#announce(conversationId, { kind: "append", epoch: conversation.epoch, firstSeq, lastSeq });
    return { count, replayed: false, firstSeq, lastSeq };
  }

  async getHistory(conversationId: string, newest: number): Promise<HistoryReadResult> {
    const conversation = this.#live(conversationId);
    if (!conversation) return decodeHistory({ pinned: [], window: [], windowLength: 0, epoch: "", lastSeq: 0 }, this.#decoding);
    const { elements, pinned, epoch, seq } = conversation;
    return decodeHistory(
      { pinned, window: elements.newest(newest), windowLength: elements.length, epoch: holdsMessages(conversation) ? epoch : "", lastSeq: seq },
      this.#decoding,
    );
  }

  async clear(conversationId: string): Promise<boolean> {
    const existed = holdsMessages(this.#live(conversationId));
    this.#forget(conversationId);
    this.#requestLogs.delete(conversationId);
    if (existed) this.#announce(conversationId, { kind: "rewrite", epoch: "" });
    return existed;
  }

  async watchChanges(conversationId: string, listener: ChangeListener): Promise<ChangeSubscription> {
    let listeners = this.#listeners.get(conversationId);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(conversationId, listeners);
    }
    listeners.add(listener);
    return {
      close: () => {
        listeners.delete(listener);
        if (listeners.size === 0 && this.#listeners.get(conversationId) === listeners) this.#listeners.delete(conversationId);
      },
    };
  }

  #announce(conversationId: string, change: ConversationChange): void {
    const listeners = this.#listeners.get(conversationId);
    if (listeners) for (const listener of listeners) listener.change(change);
  }

  async count(conversationId: string): Promise<ConversationCounts> {
    const conversation = this.#live(conversationId);
    return { count: conversation?.elements.length ?? 0, pinned: conversation?.pinned.length ?? 0 };
  }

  /** One bucket, in id order from the cursor: the ids with the prefix are one range of the tree. */
  async listConversations(idPrefix: string, limit: number, cursor: ListCursor | undefined): Promise<ConversationPage> {
    if (cursor !== undefined && cursor.bucket !== 0) throw new ListCursorError(`names index bucket ${cursor.bucket}; this store has 1`);
    const now = this.#now();
    const conversations: ListedConversation[] = [];
    const expired: string[] = [];
    let more = false;
    for (const conversationId of this.#ids.keys(cursor?.after || idPrefix)) {
      if (!conversationId.startsWith(idPrefix)) break;
      const conversation = this.#conversations.get(conversationId) as Conversation;
      if (conversationId === cursor?.after) continue;
      if (conversation.expiresAt !== undefined && conversation.expiresAt <= now) expired.push(conversationId);
      else if (holdsMessages(conversation)) {
        if (conversations.length === limit) {
          more = true;
          break;
        }
        conversations.push({ conversationId, count: conversation.elements.length, lastAppendMs: conversation.appendedAt });
      }
    }
    // Not during the walk: the tree is not changed while it is iterated.
    for (const id of expired) this.#forget(id);
    const last = conversations.at(-1);
    return { conversations, next: more && last ? { bucket: 0, after: last.conversationId } : undefined };
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#conversations.clear();
    this.#ids.clear();
    this.#requestLogs.clear();
  }

  #forget(conversationId: string): void {
    this.#conversations.delete(conversationId);
    this.#ids.delete(conversationId);
  }

  #sweepExpired(): void {
    const now = this.#now();
    // Collected first: the tree is not changed while it is iterated.
    const expired: string[] = [];
    for (const [id, conversation] of this.#conversations) {
      if (conversation.expiresAt !== undefined && conversation.expiresAt <= now) expired.push(id);
    }
    for (const id of expired) this.#forget(id);
    for (const [id, log] of this.#requestLogs) {
      if (log.expiresAt <= now) this.#requestLogs.delete(id);
    }
  }
}
