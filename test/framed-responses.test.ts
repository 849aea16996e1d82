/**
 * How the adapter writes a server-streaming call's responses, over a real
 * socket: several gRPC messages in one HTTP/2 DATA frame when they queue up
 * behind a write in flight (grpc-js sends one frame per message), each still
 * its own message, in order, before the call's status; back-pressure that
 * waits for the reader; and grpc-js's own writes when the adapter cannot reach
 * the HTTP/2 stream (a server interceptor wraps the call). A raw node:http2
 * client counts the DATA frames, so the same measure shows both paths.
 */
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ChatMemory, WatchRequestSchema, WatchResponseSchema } from "../gen/ts/chatmemory/v1/chatmemory_pb.js";
import { createServiceBinding } from "../src/grpc/adapter.js";
import { ChatMemoryError } from "../src/service/errors.js";
import { EncodedMessage, type ResponseStream, type ServiceImpl } from "../src/service/service-impl.js";

type WatchHandler = (stream: ResponseStream<typeof WatchResponseSchema>) => Promise<void>;
type WatchResponseInit = MessageInitShape<typeof WatchResponseSchema>;

const response = (seq: number, content = `m${seq}`): WatchResponseInit => ({
  messages: [{ role: "user", content, seq: BigInt(seq) }],
  epoch: "e1",
});

/** A ChatMemory server whose Watch runs `watch`; every other method answers empty (none is called here). */
async function startServer(watch: WatchHandler, options: grpc.ServerOptions = {}): Promise<{ port: number; close: () => void }> {
  const impl: Record<string, unknown> = Object.fromEntries(ChatMemory.methods.map((method) => [method.localName, async () => ({})]));
  impl.watch = (_request: unknown, _context: unknown, stream: ResponseStream<typeof WatchResponseSchema>) => watch(stream);
  const binding = createServiceBinding(ChatMemory, impl as unknown as ServiceImpl<typeof ChatMemory.method>);
  const server = new grpc.Server(options);
  server.addService(binding.definition, binding.handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, close: () => server.forceShutdown() };
}

interface RawWatch {
  /** Resolves with every response, the number of DATA frames they came in, and the call's grpc-status. */
  done: Promise<{ seqs: number[]; contents: string[]; dataFrames: number; status: number; message: string }>;
  resume(): void;
  /** Cancels the call (RST_STREAM), as a caller that goes away does. */
  cancel(): void;
}

/** Calls Watch over raw HTTP/2, reading gRPC's length-prefixed messages itself; `paused` reads nothing until resume(). */
function rawWatch(session: ClientHttp2Session, paused = false, timeout?: string): RawWatch {
  const request = session.request({
    ":method": "POST",
    ":path": "/chatmemory.v1.ChatMemory/Watch",
    "content-type": "application/grpc",
    te: "trailers",
    ...(timeout === undefined ? {} : { "grpc-timeout": timeout }),
  });
  const body = toBinary(WatchRequestSchema, create(WatchRequestSchema, { conversationId: "c" }));
  const frame = Buffer.alloc(5 + body.byteLength);
  frame.writeUInt32BE(body.byteLength, 1);
  frame.set(body, 5);
  request.end(frame);
  if (paused) request.pause();
  const done = new Promise<Awaited<RawWatch["done"]>>((resolve, reject) => {
    const seqs: number[] = [];
    const contents: string[] = [];
    let dataFrames = 0;
    let pending = Buffer.alloc(0);
    let status = -1;
    let message = "";
    request.on("data", (chunk: Buffer) => {
      dataFrames++;
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
        const length = pending.readUInt32BE(1);
        const decoded = fromBinary(WatchResponseSchema, pending.subarray(5, 5 + length));
        for (const one of decoded.messages) {
          seqs.push(Number(one.seq));
          contents.push(one.content);
        }
        pending = pending.subarray(5 + length);
      }
    });
    request.on("trailers", (trailers) => {
      status = Number(trailers["grpc-status"]);
      message = decodeURIComponent(String(trailers["grpc-message"] ?? ""));
    });
    request.on("end", () => resolve({ seqs, contents, dataFrames, status, message }));
    request.on("error", reject);
  });
  return { done, resume: () => request.resume(), cancel: () => request.close(constants.NGHTTP2_CANCEL) };
}

/** Responses seq from..to, encoded as a Watch step is, for writeAll. */
const encodedGroup = (from: number, to: number) =>
  range(from, to).map((seq) => new EncodedMessage(WatchResponseSchema, toBinary(WatchResponseSchema, create(WatchResponseSchema, response(seq)))));

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A promise and the function that resolves it. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => (resolve = done));
  return { promise, resolve };
}

const BIG = "x".repeat(10_000);

/**
 * Writes 10 KB responses (seq 1, 2, ...) until the stream says wait, and returns the last seq: a
 * paused reader's HTTP/2 flow control (64 KiB unread) holds a write in flight, and frames wait behind it.
 */
function writeUntilWait(stream: ResponseStream<typeof WatchResponseSchema>): number {
  let seq = 0;
  while (stream.write(response(++seq, BIG))) if (seq > 1_000) throw new Error("never said wait");
  return seq;
}

describe("server-streaming responses on the wire", () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });
  async function watchOn(watch: WatchHandler, options?: grpc.ServerOptions, paused = false, timeout?: string): Promise<RawWatch> {
    const server = await startServer(watch, options);
    const session = connect(`http://127.0.0.1:${server.port}`);
    cleanups.push(() => session.destroy(), server.close);
    return rawWatch(session, paused, timeout);
  }
  const writeAll = (count: number) => async (stream: ResponseStream<typeof WatchResponseSchema>) => {
    for (let seq = 1; seq <= count; seq++) stream.write(response(seq));
  };
  /** Waits for the call; expects responses seq 1..count in order, then OK; gives the DATA frames they came in. */
  async function dataFramesOfAll(watch: RawWatch, count: number): Promise<number> {
    const result = await watch.done;
    expect(result.seqs).toEqual(range(1, count));
    expect(result.status).toBe(grpc.status.OK);
    return result.dataFrames;
  }

  it("sends responses that queue behind a write in flight together, each its own message, then the status", async () => {
    const dataFrames = await dataFramesOfAll(await watchOn(writeAll(200)), 200);
    // The first response goes alone; the other 199 wait for it and leave in one write (HTTP/2 may split it in 16 KiB frames).
    expect(dataFrames).toBeLessThanOrEqual(5);
  });

  it("writes a group of encoded responses in one write, each its own message", async () => {
    const watch = await watchOn(async (stream) => {
      (stream.writeAll as NonNullable<typeof stream.writeAll>)(encodedGroup(1, 100));
    });
    expect(await dataFramesOfAll(watch, 100)).toBe(1);
  });

  it("counts every response of a group toward the bound at which it says wait", async () => {
    const accepted: boolean[] = [];
    const { done } = await watchOn(async (stream) => {
      const writeAll = stream.writeAll as NonNullable<typeof stream.writeAll>;
      // The first goes out at once; the groups wait behind it, 1 + 14 responses unsent, then 1 + 15.
      accepted.push(stream.write(response(1)), writeAll(encodedGroup(2, 15)), writeAll(encodedGroup(16, 16)));
    });
    const result = await done;
    expect(accepted).toEqual([true, true, false]);
    expect(result.seqs).toEqual(range(1, 16));
  });

  it("writes through grpc-js, one DATA frame per response, when an interceptor hides the HTTP/2 stream", async () => {
    const interceptor: grpc.ServerInterceptor = (_method, call) => new grpc.ServerInterceptingCall(call);
    const dataFrames = await dataFramesOfAll(await watchOn(writeAll(200), { interceptors: [interceptor] }), 200);
    expect(dataFrames).toBeGreaterThanOrEqual(200);
  });

  it("sends what was written before a handler's error, then the error's status", async () => {
    const { done } = await watchOn(async (stream) => {
      for (let seq = 1; seq <= 50; seq++) stream.write(response(seq));
      throw ChatMemoryError.invalidArgument("after_seq", "is negative");
    });
    const result = await done;
    expect(result.seqs).toEqual(range(1, 50));
    expect([result.status, result.message]).toEqual([grpc.status.INVALID_ARGUMENT, "after_seq: is negative"]);
  });

  it("says wait once a reader stops reading, and takes responses again when it reads", async () => {
    let sentBeforeFull = 0;
    let drained = false;
    const full = deferred();
    const watch = await watchOn(
      async (stream) => {
        sentBeforeFull = writeUntilWait(stream);
        full.resolve();
        await stream.drained();
        drained = true;
        stream.write(response(sentBeforeFull + 1, "last"));
      },
      {},
      true,
    );
    await full.promise;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const drainedWhilePaused = drained;
    watch.resume();
    const result = await watch.done;
    expect(drainedWhilePaused).toBe(false);
    expect(sentBeforeFull).toBeLessThan(100);
    expect(result.seqs).toEqual(range(1, sentBeforeFull + 1));
    expect(result.contents.at(-1)).toBe("last");
    expect(result.status).toBe(grpc.status.OK);
  });

  it("wakes a writer waiting on a caller that cancels, and drops what it writes after", async () => {
    const full = deferred();
    const handlerDone = deferred<boolean[]>();
    const watch = await watchOn(
      async (stream) => {
        const seq = writeUntilWait(stream);
        full.resolve();
        await stream.drained();
        handlerDone.resolve([stream.write(response(seq + 1, BIG)), stream.write(response(seq + 2, BIG))]);
      },
      {},
      true,
    );
    watch.done.catch(() => {});
    await full.promise;
    watch.cancel();
    // Nothing is sent to a cancelled call, so nothing makes a writer wait.
    expect(await handlerDone.promise).toEqual([true, true]);
  });

  it("ends with DEADLINE_EXCEEDED when the deadline passes while the handler still writes", async () => {
    let writesAfterDeadline = 0;
    const handlerDone = deferred();
    const { done } = await watchOn(
      async (stream) => {
        // Writes on past the 100 ms deadline, as a handler does until it sees the abort: grpc-js has ended the stream by then.
        const started = Date.now();
        for (let seq = 1; Date.now() - started < 400; seq++) {
          stream.write(response(seq));
          if (Date.now() - started > 150) writesAfterDeadline++;
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        handlerDone.resolve();
      },
      {},
      false,
      "100m",
    );
    const result = await done;
    await handlerDone.promise;
    expect(result.status).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(result.seqs.length).toBeGreaterThan(0);
    expect(writesAfterDeadline).toBeGreaterThan(10);
  });

  it("writes nothing after grpc-js ended the stream for a deadline, also what was held back then", async () => {
    const full = deferred();
    const readerResumed = deferred();
    const handlerDone = deferred();
    const watch = await watchOn(
      async (stream) => {
        let seq = writeUntilWait(stream);
        full.resolve();
        await readerResumed.promise;
        // grpc-js ended the stream at the deadline (its trailers wait behind the data): these must not be written.
        for (let i = 0; i < 5; i++) {
          stream.write(response(++seq, BIG));
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        handlerDone.resolve();
      },
      {},
      true,
      "100m",
    );
    await full.promise;
    await new Promise((resolve) => setTimeout(resolve, 250));
    watch.resume();
    readerResumed.resolve();
    await handlerDone.promise;
    const result = await watch.done;
    expect(result.status).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(result.seqs).toEqual(range(1, result.seqs.length));
  });
});
