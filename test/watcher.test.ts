/**
 * A Watcher's choice between writing steps offered together as one group and
 * taking them one by one: the group goes out whole only when it continues
 * exactly where the caller stands and nothing waits before it; in every other
 * case the caller still gets each message once, in order. The transport is a
 * recorder that can say "wait"; the conversation is a fixed read (no store:
 * this is the Watcher's own logic, the end-to-end cases are in watch.test.ts).
 */
import { describe, expect, it } from "vitest";
import type { HistoryReadResult, StoredMessage } from "../src/store/chat-store.js";
import { stepAfter, type WatchStep } from "../src/service/watch-step.js";
import { Watcher } from "../src/service/watcher.js";

const EPOCH = "e1";
const message = (seq: number): StoredMessage => ({ role: "user", content: `m${seq}`, seq });
const read = (lastSeq: number): HistoryReadResult => ({
  pinned: [],
  messages: Array.from({ length: lastSeq }, (_, i) => message(i + 1)),
  windowLength: lastSeq,
  epoch: EPOCH,
  lastSeq,
  skippedCorrupt: 0,
});
/** Append steps of one message each, for seqs from..to. */
const steps = (from: number, to: number): WatchStep[] =>
  Array.from({ length: to - from + 1 }, (_, i) => stepAfter(read(from + i), from + i - 1) as WatchStep);

/** What the watcher wrote: one entry per write() or writeAll() call, as the seqs of each step in it. */
class RecordingTransport {
  readonly writes: { group: boolean; seqs: number[][] }[] = [];
  full = false;
  #waiters: (() => void)[] = [];
  readonly write = (step: WatchStep) => this.#record(false, [step]);
  readonly writeAll = (group: readonly WatchStep[]) => this.#record(true, group);
  readonly drained = () => (this.full ? new Promise<void>((resolve) => this.#waiters.push(resolve)) : Promise.resolve());
  drain(): void {
    this.full = false;
    for (const wake of this.#waiters.splice(0)) wake();
  }
  /** Every seq written, in order. */
  seqs(): number[] {
    return this.writes.flatMap((write) => write.seqs.flat());
  }
  #record(group: boolean, written: readonly WatchStep[]): boolean {
    this.writes.push({ group, seqs: written.map((step) => step.messages.map((one) => one.message.seq as number)) });
    return !this.full;
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A watcher that stood at `lastSeq` when it started, once its first read (of `conversation()`) is written. */
async function watcherAt(lastSeq: number, conversation: () => HistoryReadResult, transport: RecordingTransport, overflowed?: () => void): Promise<Watcher> {
  const watcher = new Watcher({
    afterSeq: lastSeq,
    epoch: EPOCH,
    bufferMessages: 100,
    read: async () => conversation(),
    write: transport.write,
    writeAll: transport.writeAll,
    drained: transport.drained,
    fail: (error) => {
      throw error;
    },
    overflowed,
  });
  watcher.start();
  await tick();
  return watcher;
}

describe("Watcher.offerAll", () => {
  it("writes steps that continue where the caller stands as one group, each step its own response", async () => {
    const transport = new RecordingTransport();
    const watcher = await watcherAt(3, () => read(3), transport);
    expect(transport.writes).toEqual([{ group: false, seqs: [[]] }]);
    watcher.offerAll(steps(4, 8));
    watcher.offerAll(steps(9, 10));
    expect(transport.writes.slice(1)).toEqual([
      { group: true, seqs: [[4], [5], [6], [7], [8]] },
      { group: true, seqs: [[9], [10]] },
    ]);
  });

  it("takes a group one step at a time when the caller already has part of it, sending each message once", async () => {
    const transport = new RecordingTransport();
    const watcher = await watcherAt(5, () => read(5), transport);
    watcher.offerAll(steps(4, 8));
    expect(transport.writes.slice(1).every((write) => !write.group)).toBe(true);
    expect(transport.seqs()).toEqual([6, 7, 8]);
  });

  it("queues groups behind a transport that said wait, and writes them whole, in order, once drained", async () => {
    const transport = new RecordingTransport();
    const watcher = await watcherAt(0, () => read(0), transport);
    transport.full = true;
    watcher.offerAll(steps(1, 3));
    // The transport took the first group but is full: the next ones wait in the queue.
    watcher.offerAll(steps(4, 6));
    watcher.offerAll(steps(7, 8));
    expect(transport.seqs()).toEqual(range(1, 3));
    transport.drain();
    await tick();
    expect(transport.writes.slice(1)).toEqual([
      { group: true, seqs: [[1], [2], [3]] },
      { group: true, seqs: [[4], [5], [6]] },
      { group: true, seqs: [[7], [8]] },
    ]);
  });

  it("drops queued groups for a reset once they hold more than its buffer", async () => {
    const transport = new RecordingTransport();
    let conversation = read(0);
    let overflows = 0;
    const watcher = await watcherAt(0, () => conversation, transport, () => overflows++);
    transport.full = true;
    watcher.offerAll(steps(1, 50));
    // Queued behind the full transport: 60, then 60 + 50 messages, more than the buffer of 100.
    watcher.offerAll(steps(51, 110));
    expect(overflows).toBe(0);
    watcher.offerAll(steps(111, 160));
    expect(overflows).toBe(1);
    // Offered while the reset is owed: covered by it, not another overflow.
    watcher.offerAll(steps(161, 280));
    expect(overflows).toBe(1);
    conversation = read(280);
    transport.drain();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(transport.seqs().slice(0, 50)).toEqual(range(1, 50));
    expect(transport.writes.slice(2)).toEqual([{ group: false, seqs: [range(1, 280)] }]);
    expect(overflows).toBe(1);
  });

  it("reads the conversation itself when a group leaves a gap after where the caller stands", async () => {
    const transport = new RecordingTransport();
    let conversation = read(8);
    const watcher = await watcherAt(2, () => conversation, transport);
    expect(transport.seqs()).toEqual(range(3, 8));
    conversation = read(14);
    // 9..11 were never offered: the group does not continue where the caller stands.
    watcher.offerAll(steps(12, 14));
    await tick();
    expect(transport.seqs()).toEqual(range(3, 14));
    expect(transport.writes.some((write) => write.group)).toBe(false);
  });
});
