/**
 * Conversation changes from Redis: the write scripts announce every change on
 * the conversation's sharded Pub/Sub channel (redis-scripts.ts), so a change
 * made through any server reaches every server. One subscriber connection per
 * process (per shard on Cluster), opened on the first watch; one channel
 * subscription per watched conversation, however many watch it here.
 */
import type { Logger } from "pino";
import { type ChangeListener, type ChangeSubscription, type ConversationChange, StoreUnavailableError } from "./chat-store.js";
import type { RedisConnection } from "./redis-connection.js";
import { toStoreError } from "./redis-errors.js";

/** Parses an announcement: "a <epoch> <first> <last>" or "r <epoch>"; undefined for anything else. */
export function parseChange(message: string): ConversationChange | undefined {
  const [kind, epoch = "", first, last] = message.split(" ");
  if (kind === "r") return { kind: "rewrite", epoch };
  if (kind !== "a") return undefined;
  const firstSeq = Number(first);
  const lastSeq = Number(last);
  if (!Number.isSafeInteger(firstSeq) || !Number.isSafeInteger(lastSeq) || firstSeq < 1 || lastSeq < firstSeq) return undefined;
  return { kind: "append", epoch, firstSeq, lastSeq };
}

export class RedisChangeFeed {
  readonly #open: () => RedisConnection;
  readonly #readyTimeoutMs: number;
  readonly #logger: Logger;
  #connection: RedisConnection | undefined;
  readonly #listeners = new Map<string, Set<ChangeListener>>();
  /** Subscriptions being made: a second listener of the channel waits for the first's. */
  readonly #subscribing = new Map<string, Promise<void>>();

  constructor(options: { open: () => RedisConnection; readyTimeoutMs: number; logger: Logger }) {
    this.#open = options.open;
    this.#readyTimeoutMs = options.readyTimeoutMs;
    this.#logger = options.logger;
  }

  async subscribe(channel: string, listener: ChangeListener): Promise<ChangeSubscription> {
    let listeners = this.#listeners.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.#listeners.set(channel, listeners);
    }
    listeners.add(listener);
    const subscription = { close: () => this.#remove(channel, listener) };
    let subscribing = this.#subscribing.get(channel);
    if (!subscribing) {
      subscribing = this.#subscribeChannel(channel);
      this.#subscribing.set(channel, subscribing);
    }
    try {
      await subscribing;
      return subscription;
    } catch (error: unknown) {
      subscription.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    this.#listeners.clear();
    this.#subscribing.clear();
    connection?.disconnect();
  }

  async #subscribeChannel(channel: string): Promise<void> {
    try {
      const connection = await this.#ready();
      await connection.ssubscribe(channel);
    } catch (error: unknown) {
      // The next watcher of this channel tries again.
      this.#subscribing.delete(channel);
      throw toStoreError(error);
    }
  }

  #remove(channel: string, listener: ChangeListener): void {
    const listeners = this.#listeners.get(channel);
    if (!listeners?.delete(listener) || listeners.size > 0) return;
    this.#listeners.delete(channel);
    const subscribing = this.#subscribing.get(channel);
    this.#subscribing.delete(channel);
    // After the subscription was made (commands on one connection run in order); a lost one needs nothing.
    void subscribing
      ?.then(() => this.#connection?.sunsubscribe(channel))
      .catch((error: unknown) => this.#logger.debug({ err: error, channel }, "sunsubscribe failed"));
  }

  /** The subscriber connection once it is ready, opened on first use; StoreUnavailableError when it is not ready in time. */
  async #ready(): Promise<RedisConnection> {
    let connection = this.#connection;
    if (!connection) {
      connection = this.#open();
      this.#connection = connection;
      connection.on("smessage", (channel: string, message: string) => this.#dispatch(channel, message));
      // On one server the subscriptions end with the connection: tell every listener, forget them all.
      connection.on("close", () => this.#lost(new StoreUnavailableError("the Redis subscriber connection was lost")));
      connection.on("error", (error: Error) => this.#logger.debug({ err: error }, "redis subscriber connection error"));
    }
    if (connection.status === "ready") return connection;
    const ready = connection;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ready.off("ready", onReady);
        reject(new StoreUnavailableError(`the Redis subscriber connection was not ready within ${this.#readyTimeoutMs} ms`));
      }, this.#readyTimeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      ready.once("ready", onReady);
    });
    return ready;
  }

  #dispatch(channel: string, message: string): void {
    const listeners = this.#listeners.get(channel);
    if (!listeners) return;
    const change = parseChange(message);
    if (!change) {
      this.#logger.warn({ channel, message }, "ignored an unreadable change announcement");
      return;
    }
    for (const listener of listeners) listener.change(change);
  }

  #lost(error: StoreUnavailableError): void {
    if (this.#listeners.size === 0) return;
    const all = [...this.#listeners.values()].flatMap((listeners) => [...listeners]);
    this.#listeners.clear();
    this.#subscribing.clear();
    for (const listener of all) listener.lost(error);
  }
}
