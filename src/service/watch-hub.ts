/**
 * Watch across this server: one hub per watched conversation, holding one
 * store subscription however many streams watch it. On each change the hub
 * reads the conversation once and offers the resulting step to every watcher,
 * so 1,000 watchers of one conversation cost one read and, when they all stand
 * at the same seq, one encoding per change; Appends returned by one read go to
 * each watcher as one group, which the transport frames once and sends in one
 * write (still a response per Append). Reads coalesce: announcements heard
 * together, or while a read is in flight, are served by one read (none when the
 * previous read already covered them), so a busy server reads and offers less
 * often, with more messages per step.
 */
import type { ChangeSubscription, ChatStore, ConversationChange, HistoryReadResult } from "../store/chat-store.js";
import { ChatMemoryError, Code, toChatMemoryError } from "./errors.js";
import { everythingStep, resetStep, stepAfter, stepsPerAppend, type WatchStep } from "./watch-step.js";
import { Watcher } from "./watcher.js";

/** Running totals of this server's Watch streams, for metrics to read when scraped. */
export class WatchCounters {
  /** Streams open now. */
  streams = 0;
  /** Messages written to watchers, in new-message and reset responses alike. */
  messagesSent = 0;
  /** Responses written with `reset: true`. */
  resetsSent = 0;
  /** Times a watcher fell more than the buffer behind and lost its queue for a reset. */
  overflows = 0;

  /** Counts a step about to be written as one response. */
  sent(step: WatchStep): void {
    this.messagesSent += step.messages.length;
    if (step.reset) this.resetsSent++;
  }
}

export interface WatchOptions {
  afterSeq: number;
  epoch: string;
  /** Aborted when the call is cancelled or its deadline passes: the stream ends quietly. */
  signal: AbortSignal;
  /** Writes a step as one response; false = the transport is full, wait for drained(). */
  write: (step: WatchStep) => boolean | Promise<boolean>;
  /** Writes steps as one response each, in one transport write where it can; as write() returns. Optional. */
  writeAll?: ((steps: readonly WatchStep[]) => boolean | Promise<boolean>) | undefined;
  drained: () => Promise<void>;
}

/** Changes heard and not yet read: a rewrite, possibly missed announcements (read all), appends. */
interface PendingChanges {
  rewrite: boolean;
  missed: boolean;
  /** Each announced Append's last seq, under its epoch: where one response ends and the next begins. */
  appendEnds: { epoch: string; lastSeq: number }[];
}

/** The highest seq the pending Appends announced; 0 for none. */
function announcedLastSeq(pending: PendingChanges): number {
  let last = 0;
  for (const end of pending.appendEnds) last = Math.max(last, end.lastSeq);
  return last;
}

/** The announced Append ends in an append step that follows `after`, up to its last seq, ascending, once each. */
function endsWithin(step: WatchStep, after: number, ...heard: (PendingChanges | undefined)[]): number[] {
  const ends = new Set<number>();
  for (const changes of heard) {
    for (const end of changes?.appendEnds ?? []) if (end.epoch === step.epoch && end.lastSeq > after && end.lastSeq <= step.lastSeq) ends.add(end.lastSeq);
  }
  return [...ends].sort((a, b) => a - b);
}

/** Append steps of one epoch, each with messages, each starting right after the one before it. */
function followOneAnother(steps: readonly WatchStep[]): boolean {
  let lastSeq: number | undefined;
  for (const step of steps) {
    const first = step.messages[0]?.message.seq;
    if (step.reset || first === undefined || step.epoch !== steps[0]?.epoch || (lastSeq !== undefined && first !== lastSeq + 1)) return false;
    lastSeq = step.lastSeq;
  }
  return true;
}

class ConversationHub {
  readonly watchers = new Set<Watcher>();
  readonly #read: (newest: number) => Promise<HistoryReadResult>;
  readonly #failAll: (error: unknown) => void;
  subscription: Promise<ChangeSubscription> | undefined;
  /** Where the last step offered left the conversation; undefined until the hub has read it. */
  #known: { epoch: string; lastSeq: number } | undefined;
  #reading = false;
  /** Changes heard since the last read began: read again after it, unless it covered them. */
  #pending: PendingChanges | undefined;

  readonly #prepare: (step: WatchStep) => unknown;

  constructor(read: (newest: number) => Promise<HistoryReadResult>, prepare: (step: WatchStep) => unknown, failAll: (error: unknown) => void) {
    this.#read = read;
    this.#prepare = prepare;
    this.#failAll = failAll;
  }

  heard(change: ConversationChange): void {
    // An append already offered (a late announcement) needs nothing.
    if (change.kind === "append" && !this.#reading && this.#covers(change.epoch, change.lastSeq)) return;
    const pending = this.#pending ?? { rewrite: false, missed: false, appendEnds: [] };
    if (change.kind === "rewrite") pending.rewrite = true;
    else if (change.kind === "missed") pending.missed = true;
    else pending.appendEnds.push({ epoch: change.epoch, lastSeq: change.lastSeq });
    this.#pending = pending;
    if (this.#reading) return;
    this.#reading = true;
    // Read once the announcements that arrived together (one socket read's worth) are all heard.
    queueMicrotask(() => void this.#readAndOffer());
  }

  /** Whether what was last offered already holds `lastSeq` of `epoch`. */
  #covers(epoch: string, lastSeq: number): boolean {
    return this.#known !== undefined && this.#known.epoch === epoch && lastSeq <= this.#known.lastSeq;
  }

  async #readAndOffer(): Promise<void> {
    try {
      while (this.#pending) {
        const heard = this.#pending;
        this.#pending = undefined;
        const before = this.#known;
        const step = await this.#stepFor(heard.rewrite, heard.missed ? undefined : announcedLastSeq(heard));
        const heardDuringRead = this.#pending as PendingChanges | undefined;
        // One response per Append (design.md): a read that returned several Appends is cut at their
        // announced ends, those heard during the read included; a catch-up or a reset goes whole.
        const steps = step.reset || heard.missed ? [step] : stepsPerAppend(step, endsWithin(step, before?.lastSeq ?? 0, heard, heardDuringRead));
        const last = steps.at(-1);
        if (last !== undefined) this.#known = { epoch: last.epoch, lastSeq: last.lastSeq };
        // Appends announced during the read that it already returned need no read of their own.
        const pending = this.#pending as PendingChanges | undefined;
        if (pending && !pending.rewrite && !pending.missed && pending.appendEnds.every((end) => this.#covers(end.epoch, end.lastSeq))) this.#pending = undefined;
        // Nothing new (every announcement was late): nothing to offer.
        const offered = steps.filter((step) => step.reset || step.messages.length > 0 || before?.epoch !== step.epoch || before.lastSeq !== step.lastSeq);
        for (const step of offered) await this.#prepare(step);
        // Several Appends read at once go to each watcher together: one transport write for all of them.
        if (offered.length > 1 && followOneAnother(offered)) for (const watcher of this.watchers) watcher.offerAll(offered);
        else for (const step of offered) for (const watcher of this.watchers) watcher.offer(step);
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
      // More was appended before the read ran than was announced: read exactly that much, when it is all still stored.
      const appended = read.lastSeq - known.lastSeq;
      read = await this.#read(appended > newest && appended < read.windowLength ? appended : 0);
      step = stepAfter(read, known.lastSeq);
      if (step === undefined && read.messages.length < read.windowLength) {
        read = await this.#read(0);
        step = stepAfter(read, known.lastSeq);
      }
    }
    // Messages after the last step were trimmed before they could be sent.
    return step ?? resetStep(read);
  }
}

export class ConversationWatches {
  readonly #store: ChatStore;
  readonly #bufferMessages: number;
  readonly #hubs = new Map<string, ConversationHub>();
  readonly #prepare: (step: WatchStep) => unknown;
  readonly #counters: WatchCounters;
  #draining = false;

  constructor(options: {
    store: ChatStore;
    bufferMessages: number;
    /** Where streams, messages, resets and overflows are counted (default: counted nowhere else). */
    counters?: WatchCounters | undefined;
    drainSignal?: AbortSignal | undefined;
    /** Called (and awaited) once per step before the hub offers it to its watchers: e.g. to encode it once for all. */
    prepare?: (step: WatchStep) => unknown;
  }) {
    this.#store = options.store;
    this.#bufferMessages = options.bufferMessages;
    this.#prepare = options.prepare ?? (() => undefined);
    this.#counters = options.counters ?? new WatchCounters();
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
    const counters = this.#counters;
    const { write, writeAll } = options;
    const watcher = new Watcher({
      afterSeq: options.afterSeq,
      epoch: options.epoch,
      bufferMessages: this.#bufferMessages,
      read: () => this.#store.getHistory(conversationId, 0),
      write: (step) => {
        counters.sent(step);
        return write(step);
      },
      writeAll:
        writeAll &&
        ((steps) => {
          for (const step of steps) counters.sent(step);
          return writeAll(steps);
        }),
      drained: options.drained,
      fail: (error) => failWith(error),
      overflowed: () => counters.overflows++,
    });
    hub.watchers.add(watcher);
    counters.streams++;
    try {
      // Subscribed first, then read: a change made after the read is always heard.
      await hub.subscription;
      watcher.start();
      await ended;
    } catch (error: unknown) {
      throw toChatMemoryError(error);
    } finally {
      counters.streams--;
      watcher.close();
      this.#leave(conversationId, hub, watcher);
    }
  }

  #hubFor(conversationId: string): ConversationHub {
    let hub = this.#hubs.get(conversationId);
    if (hub) return hub;
    const created = new ConversationHub(
      (newest) => this.#store.getHistory(conversationId, newest),
      this.#prepare,
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
