/**
 * Watch load processes, forked by bench/scenarios/watch.ts and driven over IPC (advanced
 * serialization, so typed arrays travel as they are). Each runs on its own, apart from the server
 * and from each other, so a watcher's receive loop and the writer's timer do not share a thread.
 *
 *   watchers: opens Watch streams through the TypeScript client's raw `watchStream` (a reset or a
 *     stream error is counted, not resumed), spread over several connections; records, per
 *     watcher and seq, when the message arrived (performance.timeOrigin + now: the machine's
 *     clock, comparable across processes) and checks that seqs come without gap or duplicate.
 *     Given the writer's ack and send times afterwards, it returns the latencies.
 *   writer: open-loop Appends of one message at a fixed rate, round-robin over conversations,
 *     paced by the clock (a late timer sends what is due at once: calls are never held back by
 *     slow answers); returns, per Append, the conversation, the seq, and when it was sent and
 *     acknowledged.
 */
import { createChatMemoryClient, type ChatMemoryClient } from "../clients/typescript/src/index.js";
import type { WatchDelivery } from "./lib/results.js";
import { MESSAGE_CONTENT } from "./lib/workload.js";

/** The machine clock in ms with sub-ms resolution: one process's `now` against another's. */
const clock = () => performance.timeOrigin + performance.now();

export interface WatchersOpen {
  type: "open";
  address: string;
  /** One conversation id per watcher (the same id repeated for watchers of one conversation). */
  conversationIds: string[];
  /** Seqs per watcher to record: at least the Appends its conversation will get. */
  capacity: number;
  /** Watchers per client (connection): the server allows 1,000 streams per connection. */
  perConnection: number;
}

export interface WatchersFinish {
  type: "finish";
  /** Per conversation id: ack and send time by seq - 1 (NaN = no Append acknowledged with that seq). */
  times: Record<string, { ackAt: Float64Array; sentAt: Float64Array }>;
}

export interface WatchersReport extends WatchDelivery {
  type: "report";
  watchers: number;
  /** receive − ack and receive − send, ms, one per expected message received. */
  fromAckMs: Float64Array;
  fromSentMs: Float64Array;
  /** This process's CPU (user + system) since its watchers were open, µs. */
  cpuUs: number;
}

export interface WriterRun {
  type: "write";
  address: string;
  conversationIds: string[];
  ratePerS: number;
  durationS: number;
}

export interface WriterReport {
  type: "written";
  appends: number;
  failures: number;
  elapsedS: number;
  /** Per Append in send order: index into conversationIds, seq, send and ack time. */
  conversation: Uint32Array;
  seq: Float64Array;
  sentAt: Float64Array;
  ackAt: Float64Array;
  /** Append round trip (ack − send) in ms. */
  roundTripMs: Float64Array;
  /** This process's CPU (user + system) over the Appends, µs: the load generator's own cost. */
  cpuUs: number;
}

type Parent = { type: "progress" } | { type: "close" } | WatchersOpen | WatchersFinish | WriterRun;

const send = (message: unknown) => process.send?.(message);

class WatcherSet {
  readonly #clients: ChatMemoryClient[] = [];
  readonly #abort = new AbortController();
  readonly #ids: string[];
  readonly #receivedAt: Float64Array[];
  readonly #lastSeq: number[];
  #received = 0;
  #gaps = 0;
  #duplicates = 0;
  #resets = 0;
  #streamErrors = 0;
  #cpuAtOpen = process.cpuUsage();

  constructor(open: WatchersOpen) {
    this.#ids = open.conversationIds;
    this.#receivedAt = this.#ids.map(() => new Float64Array(open.capacity).fill(Number.NaN));
    this.#lastSeq = this.#ids.map(() => 0);
    const connections = Math.ceil(this.#ids.length / open.perConnection);
    for (let i = 0; i < connections; i++) {
      // A subchannel of its own, so each client is its own HTTP/2 connection.
      this.#clients.push(createChatMemoryClient({ address: open.address, channelOptions: { "grpc.use_local_subchannel_pool": 1 } }));
    }
  }

  /** Opens every stream; resolves once each has its first response (it is watching). */
  async open(perConnection: number): Promise<void> {
    const firsts = this.#ids.map((conversationId, index) => {
      const client = this.#clients[Math.floor(index / perConnection)] as ChatMemoryClient;
      return new Promise<void>((resolve, reject) => {
        let first = true;
        void (async () => {
          try {
            for await (const response of client.watchStream({ conversationId }, { signal: this.#abort.signal })) {
              const at = clock();
              if (response.reset) this.#resets++;
              for (const message of response.messages) this.#record(index, Number(message.seq), at);
              if (first) {
                first = false;
                resolve();
              }
            }
          } catch (error: unknown) {
            this.#streamErrors++;
            reject(error as Error);
          }
        })();
      });
    });
    await Promise.all(firsts);
    this.#cpuAtOpen = process.cpuUsage();
  }

  #record(watcher: number, seq: number, at: number): void {
    const last = this.#lastSeq[watcher] as number;
    if (seq <= last) {
      this.#duplicates++;
      return;
    }
    if (seq !== last + 1) this.#gaps++;
    this.#lastSeq[watcher] = seq;
    this.#received++;
    const times = this.#receivedAt[watcher] as Float64Array;
    if (seq <= times.length) times[seq - 1] = at;
  }

  get received(): number {
    return this.#received;
  }

  report(finish: WatchersFinish): WatchersReport {
    const cpu = process.cpuUsage(this.#cpuAtOpen);
    const fromAck: number[] = [];
    const fromSent: number[] = [];
    let expected = 0;
    let missing = 0;
    let perWatcherMin = Number.POSITIVE_INFINITY;
    let perWatcherMax = 0;
    this.#ids.forEach((id, watcher) => {
      const times = finish.times[id];
      const receivedAt = this.#receivedAt[watcher] as Float64Array;
      let got = 0;
      for (let i = 0; times && i < times.ackAt.length; i++) {
        const ackAt = times.ackAt[i] as number;
        if (Number.isNaN(ackAt)) continue;
        expected++;
        const at = receivedAt[i] as number;
        if (Number.isNaN(at)) {
          missing++;
          continue;
        }
        got++;
        fromAck.push(at - ackAt);
        fromSent.push(at - (times.sentAt[i] as number));
      }
      perWatcherMin = Math.min(perWatcherMin, got);
      perWatcherMax = Math.max(perWatcherMax, got);
    });
    return {
      type: "report",
      watchers: this.#ids.length,
      expected,
      received: this.#received,
      missing,
      gaps: this.#gaps,
      duplicates: this.#duplicates,
      resets: this.#resets,
      streamErrors: this.#streamErrors,
      perWatcherMin: this.#ids.length === 0 ? 0 : perWatcherMin,
      perWatcherMax,
      fromAckMs: Float64Array.from(fromAck),
      fromSentMs: Float64Array.from(fromSent),
      cpuUs: cpu.user + cpu.system,
    };
  }

  close(): void {
    this.#abort.abort();
    for (const client of this.#clients) client.close();
  }
}

async function write(run: WriterRun): Promise<WriterReport> {
  const client = createChatMemoryClient({ address: run.address, defaultDeadlineMs: 30_000 });
  await client.waitForReady(10_000);
  const total = Math.round(run.ratePerS * run.durationS);
  const report: WriterReport = {
    type: "written",
    appends: 0,
    failures: 0,
    elapsedS: 0,
    conversation: new Uint32Array(total),
    seq: new Float64Array(total).fill(Number.NaN),
    sentAt: new Float64Array(total).fill(Number.NaN),
    ackAt: new Float64Array(total).fill(Number.NaN),
    roundTripMs: new Float64Array(total).fill(Number.NaN),
    cpuUs: 0,
  };
  const cpuBefore = process.cpuUsage();
  const intervalMs = 1000 / run.ratePerS;
  const started = performance.now();
  const calls: Promise<void>[] = [];
  const appendOne = (i: number): Promise<void> => {
    const index = i % run.conversationIds.length;
    const conversationId = run.conversationIds[index] as string;
    report.conversation[i] = index;
    const sentAt = clock();
    report.sentAt[i] = sentAt;
    return client.append({ conversationId, messages: [{ role: "user", content: MESSAGE_CONTENT }] }).then(
      (response) => {
        const ackAt = clock();
        report.ackAt[i] = ackAt;
        report.roundTripMs[i] = ackAt - sentAt;
        report.seq[i] = Number(response.firstSeq);
        report.appends++;
      },
      () => {
        report.failures++;
      },
    );
  };
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - started) / intervalMs) + 1);
      while (next < due) calls.push(appendOne(next++));
      if (next >= total) return resolve();
      setTimeout(tick, Math.max(0, started + next * intervalMs - performance.now()));
    };
    tick();
  });
  await Promise.all(calls);
  report.elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  report.cpuUs = cpu.user + cpu.system;
  client.close();
  return report;
}

let watchers: WatcherSet | undefined;
let perConnection = 250;

process.on("message", (message: Parent) => {
  void (async () => {
    try {
      switch (message.type) {
        case "open":
          perConnection = message.perConnection;
          watchers = new WatcherSet(message);
          await watchers.open(perConnection);
          send({ type: "ready" });
          break;
        case "progress":
          send({ type: "progress", received: watchers?.received ?? 0 });
          break;
        case "finish":
          send(watchers?.report(message));
          break;
        case "write":
          send(await write(message));
          break;
        case "close":
          watchers?.close();
          process.disconnect?.();
          break;
      }
    } catch (error: unknown) {
      send({ type: "error", message: error instanceof Error ? error.message : String(error) });
    }
  })();
});
