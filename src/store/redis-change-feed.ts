/**
 * Conversation changes from Redis: the write scripts announce every change on
 * the conversation's sharded Pub/Sub channel (redis-scripts.ts), so a change
 * made through any server reaches every server. One subscriber connection per
 * process (per shard on Cluster), opened on the first watch; one channel
 * subscription per watched conversation, however many watch it here.
 */
/// <reference path="./cluster-key-slot.d.ts" />
import calculateSlot from "cluster-key-slot";
import { Cluster } from "ioredis";
import type { Logger } from "pino";
import { type ChangeListener, type ChangeSubscription, type ConversationChange, StoreUnavailableError } from "./chat-store.js";
import type { RedisConnection } from "./redis-connection.js";
import { toStoreError } from "./redis-errors.js";

/** How long ioredis's subscription changes must pause before every channel reads again (Cluster). */
const SUBSCRIPTIONS_SETTLE_MS = 300;

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

/** One channel's listeners, and the subscribe/unsubscribe commands sent for it, chained in order. */
interface ChannelState {
  listeners: Set<ChangeListener>;
  subscribed: boolean;
  /** Settles after the last command queued for the channel: the next one goes after it. */
  chain: Promise<void>;
  /** On Cluster: the node that served the channel's slot when it was last subscribed. */
  node: string | undefined;
}

export class RedisChangeFeed {
  readonly #open: () => RedisConnection;
  readonly #readyTimeoutMs: number;
  readonly #logger: Logger;
  #connection: RedisConnection | undefined;
  #becomingReady: Promise<RedisConnection> | undefined;
  readonly #channels = new Map<string, ChannelState>();
  /** Pending re-read of every channel once ioredis's subscription changes settle (Cluster). */
  #settleTimer: NodeJS.Timeout | undefined;

  constructor(options: { open: () => RedisConnection; readyTimeoutMs: number; logger: Logger }) {
    this.#open = options.open;
    this.#readyTimeoutMs = options.readyTimeoutMs;
    this.#logger = options.logger;
  }

  async subscribe(channel: string, listener: ChangeListener): Promise<ChangeSubscription> {
    let state = this.#channels.get(channel);
    if (!state) {
      state = { listeners: new Set(), subscribed: false, chain: Promise.resolve(), node: undefined };
      this.#channels.set(channel, state);
    }
    const subscribed = state;
    subscribed.listeners.add(listener);
    const subscription = { close: () => this.#remove(channel, subscribed, listener) };
    const step = subscribed.chain.then(async () => {
      if (subscribed.subscribed) return;
      const connection = await this.#ready();
      await connection.ssubscribe(channel);
      subscribed.subscribed = true;
      subscribed.node = nodeServing(connection, channel);
    });
    subscribed.chain = step.catch(() => {});
    try {
      await step;
      return subscription;
    } catch (error: unknown) {
      subscription.close();
      throw toStoreError(error);
    }
  }

  async close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = undefined;
    clearTimeout(this.#settleTimer);
    this.#channels.clear();
    connection?.disconnect();
  }

  /** Drops a listener; the channel's last one unsubscribes it, unless a new listener came meanwhile. */
  #remove(channel: string, state: ChannelState, listener: ChangeListener): void {
    if (!state.listeners.delete(listener) || state.listeners.size > 0) return;
    state.chain = state.chain
      .then(async () => {
        if (state.listeners.size > 0) return;
        if (this.#channels.get(channel) === state) this.#channels.delete(channel);
        if (!state.subscribed) return;
        state.subscribed = false;
        await this.#connection?.sunsubscribe(channel);
      })
      .catch((error: unknown) => this.#logger.debug({ err: error, channel }, "sunsubscribe failed"));
  }

  /** The subscriber connection once it is ready, opened on first use; StoreUnavailableError when it is not ready in time. */
  #ready(): Promise<RedisConnection> {
    let connection = this.#connection;
    if (!connection) {
      connection = this.#open();
      this.#connection = connection;
      connection.on("smessage", (channel: string, message: string) => this.#dispatch(channel, message));
      // On one server the subscriptions end with the connection: tell every listener, forget them all.
      connection.on("close", () => this.#lost(new StoreUnavailableError("the Redis subscriber connection was lost")));
      connection.on("error", (error: Error) => this.#logger.debug({ err: error }, "redis subscriber connection error"));
      // ioredis moves a sharded subscription when its slot moves (it hears Redis's sunsubscribe,
      // refreshes the slot map, subscribes anew); announcements made meanwhile are lost.
      if (connection instanceof Cluster) {
        const cluster = connection;
        cluster.on("subscribersReady", () => this.#followMovedSlots(cluster));
      }
    }
    if (connection.status === "ready") return Promise.resolve(connection);
    // One wait shared by every channel subscribed meanwhile (many watchers resume at once after an outage).
    this.#becomingReady ??= this.#waitForReady(connection).finally(() => {
      this.#becomingReady = undefined;
    });
    return this.#becomingReady;
  }

  #waitForReady(connection: RedisConnection): Promise<RedisConnection> {
    return new Promise<RedisConnection>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection.off("ready", onReady);
        reject(new StoreUnavailableError(`the Redis subscriber connection was not ready within ${this.#readyTimeoutMs} ms`));
      }, this.#readyTimeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(connection);
      };
      connection.once("ready", onReady);
    });
  }

  /**
   * After ioredis moved subscriptions: each channel whose slot another node now serves is
   * subscribed again (ensuring the new node has it before anything is read), then its listeners
   * hear that they may have missed changes, and read. ioredis may also have replaced a node's
   * subscriber whose slots stayed put, losing announcements meanwhile: once these events pause,
   * every channel does the same.
   */
  #followMovedSlots(connection: Cluster): void {
    let moved = 0;
    for (const [channel, state] of this.#channels) {
      const node = nodeServing(connection, channel);
      if (!state.subscribed || node === state.node) continue;
      state.node = node;
      moved++;
      this.#catchUp(connection, channel, state);
    }
    this.#logger.debug({ channels: this.#channels.size, moved }, "redis subscribers ready: channels whose node changed read again");
    clearTimeout(this.#settleTimer);
    this.#settleTimer = setTimeout(() => {
      this.#logger.debug({ channels: this.#channels.size }, "redis subscriptions settled: every channel reads again");
      for (const [channel, state] of this.#channels) if (state.subscribed) this.#catchUp(connection, channel, state);
    }, SUBSCRIPTIONS_SETTLE_MS);
    this.#settleTimer.unref();
  }

  /** Subscribes the channel again where it now lives, then tells its listeners they may have missed changes. */
  #catchUp(connection: Cluster, channel: string, state: ChannelState): void {
    state.chain = state.chain
      .then(async () => {
        if (!state.subscribed) return;
        await connection.ssubscribe(channel);
        for (const listener of state.listeners) listener.change({ kind: "missed" });
      })
      .catch((error: unknown) => {
        this.#logger.warn({ err: error, channel }, "could not subscribe again after a slot move: its watchers must resume");
        // Not subscribed where the channel now lives: its watchers resume elsewhere or later.
        if (this.#channels.get(channel) === state) this.#channels.delete(channel);
        state.subscribed = false;
        const lost = new StoreUnavailableError("the Redis subscription could not follow its slot to another node", { cause: error });
        for (const listener of state.listeners) listener.lost(lost);
      });
  }

  #dispatch(channel: string, message: string): void {
    const listeners = this.#channels.get(channel)?.listeners;
    if (!listeners) return;
    const change = parseChange(message);
    if (!change) {
      this.#logger.warn({ channel, message }, "ignored an unreadable change announcement");
      return;
    }
    for (const listener of listeners) listener.change(change);
  }

  #lost(error: StoreUnavailableError): void {
    const states = [...this.#channels.values()];
    if (states.length === 0) return;
    this.#channels.clear();
    for (const state of states) {
      state.subscribed = false;
      for (const listener of state.listeners) listener.lost(error);
    }
  }
}

/** On Cluster, the node (host:port) ioredis's slot map names for the channel's slot; undefined elsewhere. */
function nodeServing(connection: RedisConnection, channel: string): string | undefined {
  return connection instanceof Cluster ? connection.slots[calculateSlot(channel)]?.[0] : undefined;
}
