/**
 * The floor under Watch fan-out: a server's CPU per message written to N open streams, one message
 * to every stream per step (as a hub writes a step to its watchers), with nothing of ChatMemory in
 * between. Tells how much of a delivery grpc-js and Node's HTTP/2 cost by themselves.
 *
 *   node dist-bench/bench/watch-write-floor.js [modes] [streams] [steps/s] [steps] [rounds] [messages per step]
 *   modes (comma-separated, run interleaved, [http2,grpc]):
 *     http2  node:http2 server: the framed bytes written on each stream (Http2Stream.write), one
 *            write per message (a stream that is still sending gathers them into one writev)
 *     http2-concat  the same, but a step's messages go in one write (one Buffer of all frames)
 *     grpc   @grpc/grpc-js server, a server-streaming method whose serializer passes the Buffer
 *            through: call.write() on each stream (grpc-js frames: allocation and copy)
 *     grpc-nochannelz  the same with `grpc.enable_channelz: 0`
 *   defaults: 1000 streams (250 per connection), 10 steps/s, 100 steps, 2 rounds, 1 message per step
 *
 * The server runs in this process; the receiver (raw node:http2, counting bytes) in a forked one.
 * CPU is this process's user + system from the first step until the receiver has every byte.
 */
import { fork } from "node:child_process";
import { type ClientHttp2Session, connect, createServer, type Http2Server, type ServerHttp2Stream } from "node:http2";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";

const PER_CONNECTION = 250;
const PAYLOAD = Buffer.alloc(250, 0x61);
const FRAME = Buffer.concat([Buffer.from([0, 0, 0, 0, PAYLOAD.length]), PAYLOAD]);
const PATH = "/floor.Floor/Watch";
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Writers {
  port: number;
  /** Writes one message to every stream, in one synchronous loop. */
  step(): void;
  close(): Promise<void>;
}

async function http2Writers(streamsWanted: number, opened: () => void, messages: number, concat: boolean): Promise<Writers> {
  const concatenated = Buffer.concat(Array.from({ length: messages }, () => FRAME));
  const streams: ServerHttp2Stream[] = [];
  const server: Http2Server = createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on("stream", (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.on("error", () => {});
    streams.push(stream);
    if (streams.length === streamsWanted) opened();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    step: () => {
      if (concat) for (const stream of streams) stream.write(concatenated);
      else for (const stream of streams) for (let i = 0; i < messages; i++) stream.write(FRAME);
    },
    close: async () => {
      for (const stream of streams) stream.close();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function grpcWriters(streamsWanted: number, opened: () => void, messages: number, channelz: boolean): Promise<Writers> {
  const calls: grpc.ServerWritableStream<Buffer, Buffer>[] = [];
  const server = new grpc.Server({ "grpc.max_concurrent_streams": 1000, ...(channelz ? {} : { "grpc.enable_channelz": 0 }) });
  const pass = (bytes: Buffer) => bytes;
  const definition: grpc.ServiceDefinition = {
    watch: { path: PATH, requestStream: false, responseStream: true, requestSerialize: pass, requestDeserialize: pass, responseSerialize: pass, responseDeserialize: pass },
  };
  server.addService(definition, {
    watch: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      call.on("error", () => {});
      calls.push(call);
      if (calls.length === streamsWanted) opened();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return {
    port,
    step: () => {
      for (const call of calls) for (let i = 0; i < messages; i++) call.write(PAYLOAD);
    },
    close: async () => {
      for (const call of calls) call.end();
      server.forceShutdown();
    },
  };
}

/** The receiver: opens `streams` streams to `port`, then reports when `bytes` arrived in all. */
function receiver(): void {
  const sessions: ClientHttp2Session[] = [];
  let received = 0;
  let want = Number.POSITIVE_INFINITY;
  const check = () => {
    if (received >= want) {
      want = Number.POSITIVE_INFINITY;
      process.send?.({ type: "received" });
    }
  };
  process.on("message", (message: { type: string; port?: number; streams?: number; bytes?: number }) => {
    if (message.type === "open") {
      for (let i = 0; i < (message.streams as number); i++) {
        if (i % PER_CONNECTION === 0) sessions.push(connect(`http://127.0.0.1:${message.port}`));
        const request = (sessions.at(-1) as ClientHttp2Session).request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
        request.on("data", (chunk: Buffer) => {
          received += chunk.length;
          check();
        });
        request.on("error", () => {});
        request.end(Buffer.from([0, 0, 0, 0, 0]));
      }
    } else if (message.type === "expect") {
      want = received + (message.bytes as number);
      check();
    } else if (message.type === "close") {
      for (const session of sessions) session.destroy();
      process.exit(0);
    }
  });
}

async function measure(mode: string, streams: number, rate: number, steps: number, messages: number): Promise<{ usPerMessage: number; ms: number }> {
  const child = fork(fileURLToPath(import.meta.url), ["receiver"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let opened!: () => void;
  const allOpen = new Promise<void>((resolve) => (opened = resolve));
  const writers = mode.startsWith("http2")
    ? await http2Writers(streams, opened, messages, mode === "http2-concat")
    : await grpcWriters(streams, opened, messages, mode !== "grpc-nochannelz");
  try {
    child.send({ type: "open", port: writers.port, streams });
    await allOpen;
    // Warm-up: the code paths and every stream's first data frame.
    const warm = new Promise((resolve) => child.once("message", resolve));
    child.send({ type: "expect", bytes: 5 * messages * FRAME.length * streams });
    for (let i = 0; i < 5; i++) writers.step();
    await warm;
    await sleep(300);
    const done = new Promise((resolve) => child.once("message", resolve));
    child.send({ type: "expect", bytes: steps * messages * FRAME.length * streams });
    const started = performance.now();
    const cpu = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      writers.step();
    }
    await done;
    const used = process.cpuUsage(cpu);
    return { usPerMessage: (used.user + used.system) / (steps * messages * streams), ms: performance.now() - started };
  } finally {
    child.send({ type: "close" });
    await writers.close();
  }
}

async function main(): Promise<void> {
  const [modesArg, streamsArg, rateArg, stepsArg, roundsArg, messagesArg] = process.argv.slice(2);
  const modes = (modesArg ?? "http2,grpc").split(",");
  const streams = Number(streamsArg ?? 1000);
  const rate = Number(rateArg ?? 10);
  const steps = Number(stepsArg ?? 100);
  const rounds = Number(roundsArg ?? 2);
  const messages = Number(messagesArg ?? 1);
  for (let round = 1; round <= rounds; round++) {
    for (const mode of round % 2 === 1 ? modes : [...modes].reverse()) {
      const { usPerMessage, ms } = await measure(mode, streams, rate, steps, messages);
      const load = (await import("node:os")).loadavg()[0]?.toFixed(2);
      console.log(
        `round ${round} ${mode}: ${streams} streams, ${steps} steps of ${messages} at ${rate}/s: ${usPerMessage.toFixed(2)} µs of CPU per message written (${Math.round(ms)} ms; load ${load})`,
      );
      await sleep(500);
    }
  }
}

if (process.argv[2] === "receiver") receiver();
else await main();
