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
 *     acknowledged. By default it speaks gRPC over node:http2 itself, with each conversation's
 *     request frame encoded once: the TypeScript client costs about as much CPU per call as the
 *     server does (bench/notes.md, "Watch fan-out, coalesced"), and on 2 shared cores that CPU is
 *     taken from the server. `via: "client"` uses the client instead.
 */
import { type ClientHttp2Session, connect, constants as http2 } from "node:http2";
import { fromBinary } from "@bufbuild/protobuf";
import { AppendRequestSchema, AppendResponseSchema, WatchRequestSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { encodeFrame } from "./lib/frames.js";
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
  /**
   * How streams are read: raw HTTP/2, taking only each message's seq from the bytes (default; a
   * receiver's CPU per message is then small next to the server's), or the TypeScript client's
   * `watchStream`, which decodes every message (about 4–10 µs each).
   */
  via?: "http2" | "client";
  /** HTTP/2 receive window per stream and per connection, bytes (the TypeScript client's default: 4 MiB). */
  windowBytes: number;
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
  /** How Appends are sent: raw HTTP/2 with pre-encoded frames (default), or the TypeScript client. */
  via?: "http2" | "client";
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

/** A base-128 varint at `at`: its value (exact below 2^53) and where the next field starts. */
function varint(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, at];
    scale *= 128;
  }
}

/** Where the field after one of wire type `wireType` starting at `at` (after its tag) begins. */
function skipField(bytes: Uint8Array, at: number, wireType: number): number {
  if (wireType === 0) return varint(bytes, at)[1];
  if (wireType === 1) return at + 8;
  if (wireType === 5) return at + 4;
  if (wireType === 2) {
    const [length, start] = varint(bytes, at);
    return start + length;
  }
  throw new Error(`unexpected wire type ${wireType}`);
}

/**
 * A WatchResponse read only as far as the benchmark needs: `reset` (field 2) and each message's
 * `seq` (Message field 8) from `messages` (field 1), straight from the wire bytes.
 */
function scanWatchResponse(bytes: Uint8Array, onSeq: (seq: number) => void): boolean {
  let reset = false;
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = varint(bytes, at);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 1 && wireType === 2) {
      const [length, start] = varint(bytes, afterTag);
      const end = start + length;
      let inner = start;
      while (inner < end) {
        const [innerTag, afterInnerTag] = varint(bytes, inner);
        if (innerTag === (8 << 3) /* seq, varint */) {
          const [seq, next] = varint(bytes, afterInnerTag);
          onSeq(seq);
          inner = next;
        } else inner = skipField(bytes, afterInnerTag, innerTag % 8);
      }
      at = end;
    } else if (field === 2 && wireType === 0) {
      const [value, next] = varint(bytes, afterTag);
      reset = value !== 0;
      at = next;
    } else at = skipField(bytes, afterTag, wireType);
  }
  return reset;
}

/** gRPC's length-prefixed messages from a stream's DATA chunks, as they complete. */
class GrpcFrames {
  #pending: Buffer = Buffer.alloc(0);
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let buffer = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (buffer.length >= 5) {
      const length = buffer.readUInt32BE(1);
      if (buffer.length < 5 + length) break;
      onMessage(buffer.subarray(5, 5 + length));
      buffer = buffer.subarray(5 + length);
    }
    this.#pending = buffer;
  }
}

class WatcherSet {
  readonly #clients: ChatMemoryClient[] = [];
  readonly #sessions: ClientHttp2Session[] = [];
  readonly #via: "http2" | "client";
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
    this.#via = open.via ?? "http2";
    const connections = Math.ceil(this.#ids.length / open.perConnection);
    for (let i = 0; i < connections; i++) {
      if (this.#via === "http2") {
        // The window a client grants per stream (SETTINGS) and per connection (WINDOW_UPDATE), as grpc-js does.
        const session = connect(`http://${open.address}`, { settings: { initialWindowSize: open.windowBytes } });
        session.once("connect", () => session.setLocalWindowSize(open.windowBytes));
        session.on("error", () => {});
        this.#sessions.push(session);
      }
      // A subchannel of its own, so each client is its own HTTP/2 connection.
      else this.#clients.push(createChatMemoryClient({ address: open.address, channelOptions: { "grpc.use_local_subchannel_pool": 1, "grpc-node.flow_control_window": open.windowBytes } }));
    }
  }

  /** Opens every stream; resolves once each has its first response (it is watching). */
  async open(perConnection: number): Promise<void> {
    if (this.#via === "http2") return this.#openRaw(perConnection);
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

  async #openRaw(perConnection: number): Promise<void> {
    const headers = {
      [http2.HTTP2_HEADER_METHOD]: "POST",
      [http2.HTTP2_HEADER_PATH]: "/chatmemory.v1.ChatMemory/Watch",
      "content-type": "application/grpc",
      te: "trailers",
    };
    const firsts = this.#ids.map((conversationId, index) => {
      const session = this.#sessions[Math.floor(index / perConnection)] as ClientHttp2Session;
      return new Promise<void>((resolve, reject) => {
        let first = true;
        const stream = session.request(headers, { endStream: false, signal: this.#abort.signal });
        const frames = new GrpcFrames();
        stream.on("data", (chunk: Buffer) => {
          const at = clock();
          frames.push(chunk, (message) => {
            if (scanWatchResponse(message, (seq) => this.#record(index, seq, at))) this.#resets++;
            if (first) {
              first = false;
              resolve();
            }
          });
        });
        const failed = (why: string) => {
          if (this.#abort.signal.aborted) return;
          this.#streamErrors++;
          reject(new Error(`watch ${conversationId}: ${why}`));
        };
        stream.on("trailers", (trailers) => failed(`ended with grpc-status ${String(trailers["grpc-status"])}`));
        stream.on("error", (error: Error) => failed(error.message));
        stream.end(encodeFrame(WatchRequestSchema, { conversationId }));
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
    for (const session of this.#sessions) session.destroy();
  }
}

/** Append of one pre-encoded request over one HTTP/2 connection; resolves to first_seq, rejects on a non-OK status. */
type Appender = { append: (index: number) => Promise<bigint>; close: () => void };

async function clientAppender(run: WriterRun): Promise<Appender> {
  const client = createChatMemoryClient({ address: run.address, defaultDeadlineMs: 30_000 });
  await client.waitForReady(10_000);
  return {
    append: async (index) => {
      const response = await client.append({ conversationId: run.conversationIds[index] as string, messages: [{ role: "user", content: MESSAGE_CONTENT }] });
      return response.firstSeq;
    },
    close: () => client.close(),
  };
}

async function http2Appender(run: WriterRun): Promise<Appender> {
  const session = connect(`http://${run.address}`);
  await new Promise<void>((resolve, reject) => {
    session.once("connect", () => resolve());
    session.once("error", reject);
  });
  const frames = run.conversationIds.map((conversationId) => encodeFrame(AppendRequestSchema, { conversationId, messages: [{ role: "user", content: MESSAGE_CONTENT }] }));
  const headers = {
    [http2.HTTP2_HEADER_METHOD]: "POST",
    [http2.HTTP2_HEADER_PATH]: "/chatmemory.v1.ChatMemory/Append",
    "content-type": "application/grpc",
    te: "trailers",
  };
  return {
    append: (index) =>
      new Promise<bigint>((resolve, reject) => {
        const stream = session.request(headers, { endStream: false });
        const chunks: Buffer[] = [];
        let status: string | undefined;
        stream.on("response", (h) => (status = h["grpc-status"] as string | undefined));
        stream.on("trailers", (t) => (status = t["grpc-status"] as string | undefined));
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("error", reject);
        stream.on("close", () => {
          const body = Buffer.concat(chunks);
          if (status !== "0" || body.length < 5) return reject(new Error(`Append: grpc-status ${status}`));
          resolve(fromBinary(AppendResponseSchema, body.subarray(5)).firstSeq);
        });
        stream.end(frames[index]);
      }),
    close: () => session.close(),
  };
}

async function write(run: WriterRun): Promise<WriterReport> {
  const client = run.via === "client" ? await clientAppender(run) : await http2Appender(run);
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
    report.conversation[i] = index;
    const sentAt = clock();
    report.sentAt[i] = sentAt;
    return client.append(index).then(
      (firstSeq) => {
        const ackAt = clock();
        report.ackAt[i] = ackAt;
        report.roundTripMs[i] = ackAt - sentAt;
        report.seq[i] = Number(firstSeq);
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
