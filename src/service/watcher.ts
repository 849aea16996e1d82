/**
 * One Watch stream: where its caller stands (last seq sent, epoch), the steps
 * waiting to be written, and the rules that keep it exact and bounded. Steps
 * that do not continue exactly where the caller stands (a gap, another epoch)
 * make it read the conversation itself; a caller that reads too slowly loses
 * its queue (at most `bufferMessages` messages are held) and gets a reset.
 */
import type { HistoryReadResult } from "../store/chat-store.js";
import { firstStep, remainderAfter, resetStep, type WatchStep } from "./watch-step.js";

export interface WatcherOptions {
  /** Where the caller stands: its last seq and epoch ("" = unknown). */
  afterSeq: number;
  epoch: string;
  /** Most messages held for a slow reader before its queue is dropped for a reset. */
  bufferMessages: number;
  /** Reads the whole conversation. */
  read: () => Promise<HistoryReadResult>;
  /** Writes a step as one response; false = the transport is full, wait for drained(). */
  write: (step: WatchStep) => boolean | Promise<boolean>;
  /** Writes steps as one response each, together; as write() returns. Optional: without it, steps go one by one. */
  writeAll?: ((steps: readonly WatchStep[]) => boolean | Promise<boolean>) | undefined;
  drained: () => Promise<void>;
  /** The stream must end: a read failed, or the watcher was closed with an error. */
  fail: (error: unknown) => void;
  /** The caller fell more than `bufferMessages` behind: its queue was dropped for a reset. */
  overflowed?: () => void;
}

function isGroup(entry: WatchStep | readonly WatchStep[]): entry is readonly WatchStep[] {
  return Array.isArray(entry);
}

function messageCount(entry: WatchStep | readonly WatchStep[]): number {
  if (!isGroup(entry)) return entry.messages.length;
  let count = 0;
  for (const step of entry) count += step.messages.length;
  return count;
}

export class Watcher {
  #lastSeq: number;
  #epoch: string;
  readonly #options: WatcherOptions;
  /** Steps to write, in order; an array is a group from offerAll, written together. */
  readonly #queue: (WatchStep | readonly WatchStep[])[] = [];
  #queuedMessages = 0;
  #pumping = false;
  /** A read of our own is in flight (from construction: the first one): steps offered meanwhile wait in #held. */
  #reading = true;
  #held: WatchStep[] = [];
  /** The queue overflowed: send a reset once the caller catches up. */
  #resetOwed = false;
  #closed = false;
  /** The step from where the caller stands (its seq and epoch) to a read of the conversation. */
  readonly #fromWhereWeStand = (read: HistoryReadResult): WatchStep => firstStep(read, this.#lastSeq, this.#epoch);

  constructor(options: WatcherOptions) {
    this.#options = options;
    this.#lastSeq = options.afterSeq;
    this.#epoch = options.epoch;
  }

  /** Sends the first step: what the caller misses, or a reset. Steps offered meanwhile follow it. */
  start(): void {
    this.#readThen(this.#fromWhereWeStand);
  }

  /** A step the conversation's hub read: queued as it is, cut to what we miss, or a reason to read ourselves. */
  offer(step: WatchStep): void {
    if (this.#closed) return;
    if (this.#reading) {
      this.#held.push(step);
      return;
    }
    // The reset read made once the caller catches up covers this step.
    if (this.#resetOwed) return;
    if (step.reset) {
      this.#enqueue(step);
      return;
    }
    if (step.epoch !== this.#epoch && this.#epoch !== "") {
      this.#catchUp(resetStep);
      return;
    }
    const needed = remainderAfter(step, this.#lastSeq);
    const first = needed.messages[0]?.message.seq;
    if (first === this.#lastSeq + 1) this.#enqueue(needed);
    // A gap before the step's messages, or none we miss though the conversation moved on: read.
    else if (first !== undefined || step.lastSeq > this.#lastSeq) this.#catchUp(this.#fromWhereWeStand);
  }

  /**
   * Append steps that follow one another (one epoch, no gap): queued as one group, written together,
   * when they continue exactly where the caller stands; else offered one by one.
   */
  offerAll(steps: readonly WatchStep[]): void {
    const first = steps[0];
    const continuesHere = first?.epoch === this.#epoch && first.messages[0]?.message.seq === this.#lastSeq + 1;
    if (this.#options.writeAll === undefined || !continuesHere || this.#closed || this.#reading || this.#resetOwed) {
      for (const step of steps) this.offer(step);
      return;
    }
    this.#enqueue(steps);
  }

  /** Ends the stream with `error` (e.g. the store's feed was lost, the server drains). */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.close();
    this.#options.fail(error);
  }

  /** Stops writing; nothing more is read or sent. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#held = [];
  }

  /** Reads the conversation, queues the step `decide` makes of it, then the steps held meanwhile. */
  #catchUp(decide: (read: HistoryReadResult) => WatchStep): void {
    if (this.#reading) return;
    this.#reading = true;
    this.#readThen(decide);
  }

  #readThen(decide: (read: HistoryReadResult) => WatchStep): void {
    this.#options.read().then(
      (read) => {
        this.#reading = false;
        if (this.#closed) return;
        // Steps were dropped after this read began: only a reset is exact.
        const step = this.#resetOwed ? resetStep(read) : decide(read);
        this.#resetOwed = false;
        this.#enqueue(step);
        const held = this.#held;
        this.#held = [];
        for (const step of held) this.offer(step);
      },
      (error: unknown) => {
        this.#reading = false;
        this.fail(error);
      },
    );
  }

  #enqueue(entry: WatchStep | readonly WatchStep[]): void {
    const last = isGroup(entry) ? (entry.at(-1) as WatchStep) : entry;
    this.#lastSeq = last.lastSeq;
    this.#epoch = last.epoch;
    const reset = !isGroup(entry) && entry.reset;
    if (reset) {
      // A reset replaces everything before it, queued or not.
      this.#queue.length = 0;
      this.#queuedMessages = 0;
    }
    this.#queue.push(entry);
    this.#queuedMessages += messageCount(entry);
    // A reset alone is always kept (it may hold more than the buffer); anything beyond the buffer is dropped for one.
    if (!reset && this.#queuedMessages > this.#options.bufferMessages) {
      this.#queue.length = 0;
      this.#queuedMessages = 0;
      if (!this.#resetOwed) this.#options.overflowed?.();
      this.#resetOwed = true;
    }
    this.#pump();
  }

  /**
   * Writes queued steps in order, one response each, while the transport takes them (synchronously:
   * a hub's offer to all its watchers is one loop, so each session flushes once); waits when it is
   * full. Pays an owed reset once drained.
   */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    let pending: boolean | Promise<boolean> | undefined;
    try {
      while (!this.#closed) {
        const entry = this.#queue.shift();
        if (entry === undefined) {
          // The caller caught up: pay the reset its overflow earned (a read in flight pays it itself).
          if (this.#resetOwed && !this.#reading) this.#catchUp(resetStep);
          break;
        }
        this.#queuedMessages -= messageCount(entry);
        const written = isGroup(entry) ? (this.#options.writeAll as NonNullable<WatcherOptions["writeAll"]>)(entry) : this.#options.write(entry);
        if (written !== true) {
          pending = written;
          break;
        }
      }
    } catch (error: unknown) {
      this.fail(error);
    } finally {
      if (pending === undefined) this.#pumping = false;
    }
    if (pending !== undefined) void this.#resumeAfter(pending);
  }

  /** Waits for a write the transport has not taken yet (and for it to drain), then pumps on. */
  async #resumeAfter(written: boolean | Promise<boolean>): Promise<void> {
    try {
      if (!(await written)) await this.#options.drained();
    } catch (error: unknown) {
      this.#pumping = false;
      this.fail(error);
      return;
    }
    this.#pumping = false;
    this.#pump();
  }
}
