/**
 * LangChain.js chat history backed by ChatMemory: one conversation per instance, each
 * addMessages one atomic Append (a turn is never interleaved with another replica's), and
 * retries that store nothing twice (docs/adapters.md).
 */
import { status } from "@grpc/grpc-js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { BaseListChatMessageHistory } from "@langchain/core/chat_history";
import type { BaseMessage } from "@langchain/core/messages";
import { type CallOptions, type ChatMemoryCallError, ChatMemoryClient, type ChatMemoryClientOptions } from "../client.js";
import { fromElements, toElement } from "./message-mapping.js";

export interface ChatMemoryMessageHistoryOptions {
  /** The conversation: 1..256 characters of `[A-Za-z0-9._:@/-]`. */
  conversationId: string;
  /** host:port of the server; not needed when `client` is given. */
  address?: string;
  /** A client to share between histories; the history never closes it. */
  client?: ChatMemoryClient;
  /** Options of the client the history makes from `address` (credentials, bearer token, deadline). */
  clientOptions?: Omit<ChatMemoryClientOptions, "address">;
  /** Append's `ttl`: the conversation expires this long after its last write (default: the server's TTL). */
  ttlMs?: number;
  /** getMessages returns only the newest `limit` window messages (default: the whole window). */
  limit?: number;
  /** getMessages returns the newest messages that fit this many tokens (default: no budget). */
  maxTokens?: number;
  /** Deadline of each call (default: the client's, 5 s). */
  deadlineMs?: number;
  /** Makes the request id of each new batch (default: crypto.randomUUID). */
  requestIdFactory?: () => string;
}

export interface AddMessagesOptions {
  /** The Append's idempotency key; default: a new one per batch, reused when the same batch is retried after a failure. */
  requestId?: string;
}

/** Failures after which the Append may still have been stored: a retry must reuse its request id. */
const UNCERTAIN_OUTCOME: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.UNKNOWN]);

export class ChatMemoryMessageHistory extends BaseListChatMessageHistory {
  lc_namespace = ["chatmemory", "langchain"];

  readonly conversationId: string;
  readonly #client: ChatMemoryClient;
  readonly #ownsClient: boolean;
  readonly #options: ChatMemoryMessageHistoryOptions;
  /** The last batch whose Append failed with an unknown outcome, as sent, and its request id. */
  #unconfirmed: { batch: string; requestId: string } | undefined;

  constructor(options: ChatMemoryMessageHistoryOptions) {
    super();
    if (options.client === undefined && options.address === undefined) {
      throw new TypeError("ChatMemoryMessageHistory needs an address or a client");
    }
    this.conversationId = options.conversationId;
    this.#options = options;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? new ChatMemoryClient({ ...options.clientOptions, address: options.address ?? "" });
  }

  /** The pinned messages, then the window, oldest first. */
  async getMessages(): Promise<BaseMessage[]> {
    const { messages } = await this.#client.getHistory(
      { conversationId: this.conversationId, limit: this.#options.limit ?? 0, maxTokens: this.#options.maxTokens ?? 0 },
      this.#callOptions(),
    );
    return fromElements(messages);
  }

  async addMessage(message: BaseMessage): Promise<void> {
    await this.addMessages([message]);
  }

  /** Appends `messages` in one atomic Append (at most the server's max batch, default 100). */
  override async addMessages(messages: BaseMessage[], options: AddMessagesOptions = {}): Promise<void> {
    if (messages.length === 0) return;
    const elements = messages.map(toElement);
    const batch = JSON.stringify(elements);
    const requestId =
      options.requestId ??
      (this.#unconfirmed?.batch === batch ? this.#unconfirmed.requestId : (this.#options.requestIdFactory?.() ?? crypto.randomUUID()));
    const ttl = this.#options.ttlMs === undefined ? undefined : durationFromMs(this.#options.ttlMs);
    try {
      await this.#client.append({ conversationId: this.conversationId, messages: elements, requestId, ttl }, this.#callOptions());
      this.#unconfirmed = undefined;
    } catch (error) {
      const code = (error as Partial<ChatMemoryCallError>).code;
      this.#unconfirmed = code !== undefined && UNCERTAIN_OUTCOME.has(code) ? { batch, requestId } : undefined;
      throw error;
    }
  }

  /** Deletes the conversation. */
  override async clear(): Promise<void> {
    await this.#client.clear({ conversationId: this.conversationId }, this.#callOptions());
    this.#unconfirmed = undefined;
  }

  /** Closes the client the history made (not one passed as `client`). */
  close(): void {
    if (this.#ownsClient) this.#client.close();
  }

  #callOptions(): CallOptions {
    return this.#options.deadlineMs === undefined ? {} : { deadlineMs: this.#options.deadlineMs };
  }
}
