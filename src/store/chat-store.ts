/**
 * The storage contract both stores (Redis and embedded memory) implement and
 * the one contract test suite checks. Stores speak plain records, not protobuf
 * messages, so they know nothing about gRPC.
 */

/** One tool call of an assistant message: `type` is "function" unless the caller named another. */
export interface StoredToolCall {
  id: string;
  type: string;
  name: string;
  arguments: string;
}

/** A JSON object as a framework hands it over (`extra`): kept and returned as given. */
export type JsonObject = { [key: string]: JsonValue };
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** Whether an object (metadata, extra, tokens) has an own enumerable key: Object.keys(o).length > 0 without the array, on every Append. */
export function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

/** One chat message as stored: the Python class's `{role, content}` plus optional fields. */
export interface StoredMessage {
  role: string;
  content: string;
  name?: string;
  toolCallId?: string;
  metadata?: Record<string, string>;
  /** Sequence number in the conversation; absent on elements the Python class wrote. */
  seq?: number;
  toolCalls?: StoredToolCall[];
  /** The caller's own message id. */
  id?: string;
  extra?: JsonObject;
  /** Token counts by encoding name (`tok` in the stored JSON), as counted on append. */
  tokens?: Readonly<Record<string, number>>;
  /** Creation time in epoch milliseconds (`ts` in the stored JSON); absent on elements the Python class wrote. */
  createdAtMs?: number;
}

/**
 * Bytes derived from messages and windows that a store hands to many reads (its caches' results),
 * kept as long as what they were made from. The store's cache owns it; the response encoder
 * fills it, so a message or window read again is encoded once.
 */
export class SharedEncodings {
  readonly #messages = new WeakMap<StoredMessage, Uint8Array>();
  readonly #windows = new WeakMap<readonly StoredMessage[], Uint8Array>();

  readonly #pinnedMessages = new WeakMap<StoredMessage, Uint8Array>();

  /** The bytes kept for a shared message (read as pinned or not: they encode differently), made by `encode` on first use. */
  message(message: StoredMessage, pinned: boolean, encode: (message: StoredMessage) => Uint8Array): Uint8Array {
    return kept(pinned ? this.#pinnedMessages : this.#messages, message, encode);
  }

  /** The bytes kept for a shared window (a whole read result's messages), made by `encode` on first use. */
  window(messages: readonly StoredMessage[], encode: (messages: readonly StoredMessage[]) => Uint8Array): Uint8Array {
    return kept(this.#windows, messages, encode);
  }
}

function kept<K extends object>(memo: WeakMap<K, Uint8Array>, shared: K, encode: (shared: K) => Uint8Array): Uint8Array {
  let bytes = memo.get(shared);
  if (bytes === undefined) {
    bytes = encode(shared);
    memo.set(shared, bytes);
  }
  return bytes;
}

/** How a read result is shared with other reads; shared parts never change (they are frozen too). */
export interface ReadSharing {
  /** Where encodings of the shared parts are kept. */
  encodings: SharedEncodings;
  /** Every message is shared; with `window`, the `messages` array itself is too. */
  window: boolean;
}

/** What a history read returns: decoded messages (oldest first) and how many stored elements were unreadable. */
export interface HistoryReadResult {
  /** The pinned messages, in seq order. */
  pinned: readonly StoredMessage[];
  /** The window's messages read (all, or the newest asked for), oldest first. */
  messages: readonly StoredMessage[];
  /** Elements in the whole window, read or not: more than were read means the read cut the window. */
  windowLength: number;
  /** The conversation's epoch; "" when it holds nothing. */
  epoch: string;
  /** The last seq the conversation gave (kept while it exists, even when emptied); 0 for none. */
  lastSeq: number;
  skippedCorrupt: number;
  /** Set when the messages are shared with other reads (a cache's); undefined = made for this read only. */
  sharing?: ReadSharing;
}

/** The sliding-window rules a store enforces on every append. */
export interface WindowPolicy {
  /** At most this many window elements are kept per conversation (`max_turns * 2`); pinned ones apart. */
  maxMessages: number;
  /** TTL applied on every append without its own, in milliseconds; undefined = keep the current expiry. */
  ttlMs: number | undefined;
  /** How long a request_id is remembered after the append that used it, in milliseconds. */
  requestIdTtlMs: number;
  /** At most this many pinned messages per conversation. */
  maxPinned: number;
  /** A trim also drops the `tool` messages that would then lead the window (their call was trimmed). */
  toolSafe: boolean;
}

/** Idempotency of one append: a retry with the same id stores nothing and returns the first result. */
export interface AppendIdempotency {
  requestId: string;
  /** Digest of the request's messages, so reusing an id for different messages is caught. */
  fingerprint: string;
}

export interface AppendOptions {
  idempotency?: AppendIdempotency | undefined;
  /** `pinned[i]`: messages[i] goes to the pinned messages instead of the window. */
  pinned?: readonly boolean[] | undefined;
  /** This write's TTL in milliseconds, instead of the policy's. */
  ttlMs?: number | undefined;
}

export interface AppendResult {
  /** Window elements after the append and trim (for a replay: the first call's count). */
  count: number;
  /** True when this was a retry of an append already applied: nothing was stored. */
  replayed: boolean;
  /** The seqs the batch got (for a replay: the first call's). */
  firstSeq: number;
  lastSeq: number;
}

/** Messages a DeleteMessages removed, in seq order. */
export interface DeletedMessages {
  messages: { message: StoredMessage; pinned: boolean }[];
}

/** A conversation's sizes. */
export interface ConversationCounts {
  /** Window elements, corrupt ones included. */
  count: number;
  pinned: number;
}

/** Where a listing resumes: after stored id `after` in index bucket `bucket` ("" = at the bucket's start). */
export interface ListCursor {
  bucket: number;
  after: string;
}

/** One listed conversation, under its stored (tenant-scoped) id. */
export interface ListedConversation {
  conversationId: string;
  /** Window elements, as `count` gives. */
  count: number;
  /** Time of the last Append or Replace in epoch ms; undefined when it was not recorded. */
  lastAppendMs: number | undefined;
}

export interface ConversationPage {
  conversations: ListedConversation[];
  /** Where the next page starts; undefined when the listing is complete. */
  next: ListCursor | undefined;
}

/**
 * What changed in a conversation, as every server sharing the store hears it: an append (its seqs,
 * under the conversation's epoch) or a rewrite of its past (Replace, DeleteMessages, Clear; `epoch`
 * is the new one, "" when it now holds nothing). Expiry is not announced: the next write comes
 * with a new epoch instead. `missed`: the feed itself may have missed announcements (on Redis
 * Cluster, the conversation's slot moved to another node and the subscription followed it late);
 * the conversation must be read again to learn what changed.
 */
export type ConversationChange =
  | { kind: "append"; epoch: string; firstSeq: number; lastSeq: number }
  | { kind: "rewrite"; epoch: string }
  | { kind: "missed" };

/** Hears the changes of one conversation until closed. */
export interface ChangeListener {
  change(change: ConversationChange): void;
  /** The feed broke (e.g. the store's connection was lost): changes may have been missed and none will follow. */
  lost(error: StoreUnavailableError): void;
}

/** A live subscription to a conversation's changes. */
export interface ChangeSubscription {
  close(): void;
}

export interface ChatStore {
  /** Human-readable kind for logs and health ("redis", "memory"). */
  readonly kind: string;
  /**
   * Appends atomically and in order, giving each message the next seq; pinned ones go to the pinned
   * messages (PinnedLimitError beyond the policy's limit, nothing stored), the rest to the window,
   * which is trimmed; the TTL is applied to every key of the conversation. With `idempotency`, the
   * request id is recorded in the same atomic step, and a repeated id stores nothing. Rejects with
   * RequestIdReusedError when the id was used for different messages.
   */
  append(conversationId: string, messages: readonly StoredMessage[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Replaces the pinned messages and the window with `messages` in one atomic step (as `append`
   * stores them, seqs continuing, with a new epoch); no messages empty the conversation (its
   * counter kept; on one that holds nothing, nothing is created).
   */
  replace(conversationId: string, messages: readonly StoredMessage[], options?: AppendOptions): Promise<AppendResult>;
  /** Deletes the window and pinned messages with these seqs in one atomic step (new epoch when any); resolves to them. */
  deleteMessages(conversationId: string, seqs: readonly number[]): Promise<DeletedMessages>;
  /**
   * Reads the pinned messages and the window (all of it, or its newest `newest` elements when > 0),
   * oldest first, with the conversation's epoch, in one atomic step.
   */
  getHistory(conversationId: string, newest: number): Promise<HistoryReadResult>;
  /** Deletes the conversation and forgets its request ids; resolves true when any message was stored. */
  clear(conversationId: string): Promise<boolean>;
  /** Window elements and pinned messages stored; 0 for unknown or expired conversations. */
  count(conversationId: string): Promise<ConversationCounts>;
  /**
   * Up to `limit` conversations whose stored id starts with `idPrefix` and that hold a message,
   * in index order from `cursor`. Across the pages of one listing each appears at most once, and
   * every one that held a message throughout appears. Rejects with ListCursorError for a cursor
   * this store cannot have made (a bucket it does not have).
   */
  listConversations(idPrefix: string, limit: number, cursor: ListCursor | undefined): Promise<ConversationPage>;
  /**
   * Subscribes to a conversation's changes, made through any server sharing this store; resolves
   * once changes made from then on will be heard, rejects with StoreUnavailableError otherwise.
   */
  watchChanges(conversationId: string, listener: ChangeListener): Promise<ChangeSubscription>;
  /** Resolves when the store answers; rejects with StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Releases connections and timers; the store is unusable afterwards. */
  close(): Promise<void>;
}

/** The store could not be reached or did not answer in time: retryable, maps to UNAVAILABLE. */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A stored value is not what ChatMemory expects (e.g. the key holds a string, not a list): FAILED_PRECONDITION. */
export class StoreDataError extends Error {
  override readonly name = "StoreDataError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Pinning messages[index] would hold more pinned messages than the policy allows: FAILED_PRECONDITION. */
export class PinnedLimitError extends Error {
  override readonly name = "PinnedLimitError";
  constructor(
    readonly index: number,
    readonly maxPinned: number,
  ) {
    super(`pinning it would hold more than ${maxPinned} pinned messages`);
  }
}

/** A listing cursor names a bucket this store does not have (a token from another deployment). */
export class ListCursorError extends Error {
  override readonly name = "ListCursorError";
}

/** A request_id came back with different messages than the append that first used it. */
export class RequestIdReusedError extends Error {
  override readonly name = "RequestIdReusedError";
}
