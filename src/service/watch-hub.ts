/**
 * Watch across this server: one hub per watched conversation, holding one
 * store subscription however many streams watch it. On each change the hub
 * reads the conversation once (reads coalesce while one is in flight) and
 * offers the resulting step to every watcher, so 1,000 watchers of one
 * conversation cost one read and, when they all stand at the same seq, one
 * encoding per change.
 */
import type { ChangeSubscription, ChatStore, ConversationChange, HistoryReadResult } from "../store/chat-store.js";
import { ChatMemoryError, Code, toChatMemoryError } from "./errors.js";
import { everythingStep, resetStep, stepAfter, type WatchStep } from "./watch-step.js";
import { Watcher } from "./watcher.js";

export interface WatchOptions {
  afterSeq: number;
  epoch: string;
  /** Aborted when the call is cancelled or its deadline passes: the stream ends quietly. */
  signal: AbortSignal;
  write: (step: WatchStep) => Promise<boolean>;
  drained: () => Promise<void>;
}

class ConversationHub {
  readonly watchers = new Set<Watcher>();
  readonly #read: (newest: number) => Promise<HistoryReadResult>;
  readonly #failAll: (error: unknown) => void;
  subscription: Promise<ChangeSubscription> | undefined;
  /** Where the last step offered left the conversation; undefined until the hub has read it. */
  #known: { epoch: string; lastSeq: number } | undefined;
  #reading = false;
  /** Changes heard while a read was in flight: read again after it (all of it, when announcements may have been missed). */
  #pending: { rewrite: boolean; lastSeq: number; missed: boolean } | undefined;

  constructor(read: (newest: number) => Promise<HistoryReadResult>, failAll: (error: unknown) => void) {
    this.#read = read;
    this.#failAll = failAll;
  }

  heard(change: ConversationChange): void {
    const known = this.#known;
    // An append already offered (a late announcement) needs nothing.
    if (change.kind === "append" && !this.#reading && known?.epoch === change.epoch && change.lastSeq <= known.lastSeq) return;
    const pending = this.#pending ?? { rewrite: false, lastSeq: 0, missed: false };
    if (change.kind === "rewrite") pending.rewrite = true;
    else if (change.kind === "missed") pending.missed = true;
    else pending.lastSeq = Math.max(pending.lastSeq, change.lastSeq);
    this.#pending = pending;
    if (!this.#reading) void this.#readAndOffer();
  }

  async #readAndOffer(): Promise<void> {
    this.#reading = true;
    try {
      while (this.#pending) {
        const { rewrite, lastSeq, missed } = this.#pending;
        this.#pending = undefined;
        const step = await this.#stepFor(rewrite, missed ? undefined : lastSeq);
        this.#known = { epoch: step.epoch, lastSeq: step.lastSeq };
        for (const watcher of this.watchers) watcher.offer(step);
      }
    } catch (error: unknown) {
      this.#failAll(error);
    } finally {
      this.#reading = false;
    }
  }

  /**
   * The step for what was heard: the new messages (from a read of the newest only, when that has
   * them all) or a reset. `announcedLastSeq` undefined: announcements may have been missed, read all.
   */
  async #stepFor(rewrite: boolean, announcedLastSeq: number | undefined): Promise<WatchStep> {
    const known = this.#known;
    if (rewrite || known === undefined) {
      const read = await this.#read(0);
      // Not knowing what watchers hold, offer everything: each takes what it misses.
      return rewrite ? resetStep(read) : everythingStep(read);
    }
    const newest = announcedLastSeq === undefined ? 0 : Math.max(announcedLastSeq - known.lastSeq, 1);
    let read = await this.#read(newest);
    const partial = newest > 0 && read.windowLength > newest;
    if (read.epoch !== known.epoch && known.epoch !== "") return resetStep(partial ? await this.#read(0) : read);
    let step = stepAfter(read, known.lastSeq);
    if (step === undefined && partial) {
      read = await this.#read(0);
      step = stepAfter(read, known.lastSeq);
    }
    // Messages after the last step were trimmed before they could be sent.
    return step ?? resetStep(read);
  }
}

export class ConversationWatches {
  readonly #store: ChatStore;
  readonly #bufferMessages: number;
  readonly #hubs = new Map<string, ConversationHub>();
  #draining = false;

  constructor(options: { store: ChatStore; bufferMessages: number; drainSignal?: AbortSignal | undefined }) {
    this.#store = options.store;
    this.#bufferMessages = options.bufferMessages;
    options.drainSignal?.addEventListener("abort", () => this.#drain(), { once: true });
  }

  /** Streams the conversation's steps until the call ends (resolves) or the stream must fail (rejects). */
  async watch(conversationId: string, options: WatchOptions): Promise<void> {
    if (this.#draining) throw draining();
    if (options.signal.aborted) return;
    const hub = this.#hubFor(conversationId);
    let failWith: (error: unknown) => void = () => {};
    const ended = new Promise<void>((resolve, reject) => {
      failWith = reject;
      options.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    // It may fail before it is awaited (while subscribing): never an unhandled rejection.
    ended.catch(() => {});
    const watcher = new Watcher({
      afterSeq: options.afterSeq,
      epoch: options.epoch,
      bufferMessages: this.#bufferMessages,
      read: () => this.#store.getHistory(conversationId, 0),
      write: options.write,
      drained: options.drained,
      fail: (error) => failWith(error),
    });
    hub.watchers.add(watcher);
    try {
      // Subscribed first, then read: a change made after the read is always heard.
      await hub.subscription;
      watcher.start();
      await ended;
    } catch (error: unknown) {
      throw toChatMemoryError(error);
    } finally {
      watcher.close();
      this.#leave(conversationId, hub, watcher);
    }
  }

  #hubFor(conversationId: string): ConversationHub {
    let hub = this.#hubs.get(conversationId);
    if (hub) return hub;
    const created = new ConversationHub(
      (newest) => this.#store.getHistory(conversationId, newest),
      (error) => this.#failHub(conversationId, created, error),
    );
    created.subscription = this.#store.watchChanges(conversationId, {
      change: (change) => created.heard(change),
      lost: (error) => this.#failHub(conversationId, created, error),
    });
    // A failed subscription fails the watchers awaiting it; the next watcher makes a new hub.
    created.subscription.catch(() => {
      if (this.#hubs.get(conversationId) === created) this.#hubs.delete(conversationId);
    });
    this.#hubs.set(conversationId, created);
    return created;
  }

  #leave(conversationId: string, hub: ConversationHub, watcher: Watcher): void {
    hub.watchers.delete(watcher);
    if (hub.watchers.size > 0) return;
    if (this.#hubs.get(conversationId) === hub) this.#hubs.delete(conversationId);
    hub.subscription?.then((subscription) => subscription.close()).catch(() => {});
  }

  #failHub(conversationId: string, hub: ConversationHub, error: unknown): void {
    if (this.#hubs.get(conversationId) === hub) this.#hubs.delete(conversationId);
    for (const watcher of hub.watchers) watcher.fail(error);
  }

  #drain(): void {
    this.#draining = true;
    for (const [conversationId, hub] of [...this.#hubs]) this.#failHub(conversationId, hub, draining());
  }
}

function draining(): ChatMemoryError {
  return new ChatMemoryError(Code.UNAVAILABLE, "the server is shutting down: watch again (with after_seq and epoch) to resume elsewhere");
}
