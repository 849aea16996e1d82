/**
 * The CPU that tracing itself adds per call (bench/notes.md, "Tracing"), apart from the noise of
 * a whole server under load: the transport's CallTracer and the store's RedisCommandHook driven
 * as the server drives them (a server span, the handler in its context, one Redis command span
 * around an awaited round trip, 64 calls in flight), in a fresh process per measurement so the
 * SDK's global state starts clean. Modes, interleaved over rounds:
 *   off    no tracer (the server without OTEL_*)
 *   all    OpenTelemetry on, every trace sampled, exported over OTLP/HTTP to a sink process
 *   ratio  the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio, 0.1
 * Prints µs of CPU per call (this process: span work, batching, serialization, HTTP) per round
 * and the medians. The sink runs in its own process and is not counted.
 *
 *   npm run build && npm run build:bench && node_modules/.bin/node dist-bench/bench/tracing-overhead.js [rounds (5)]
 */
import { execFile, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Tracing } from "../src/tracing/start-tracing.js";

const CALLS = 50_000;
const WARMUP_CALLS = 5_000;
const IN_FLIGHT = 64;
const MODES = ["off", "all", "ratio"] as const;
type Mode = (typeof MODES)[number];

const SINK = `require("node:http").createServer((req, res) => { req.resume(); req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end()); })
  .listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;

/** One measurement, in this (child) process: CPU µs per call. */
async function measure(mode: Mode): Promise<number> {
  let tracing: Tracing | undefined;
  if (mode !== "off") {
    if (mode === "ratio") Object.assign(process.env, { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: "0.1" });
    // Loaded as main.ts loads it: only when on.
    tracing = (await import("../src/tracing/start-tracing.js")).startTracing();
  }
  const call = {
    service: "chatmemory.v1.ChatMemory",
    method: "Append",
    requestHeader: () => undefined,
    authority: () => "127.0.0.1:50051",
    peer: () => "127.0.0.1:40000",
  };
  const command = { operation: "EVALSHA", script: "chatmemoryWrite" };
  const roundTrip = () => new Promise<number>((resolve) => setImmediate(() => resolve(1)));
  const handler = async () => {
    await Promise.resolve();
    return tracing === undefined ? roundTrip() : tracing.redisCommands.around(command, roundTrip);
  };
  const one = async () => {
    const traced = tracing?.callTracer.startCall(call);
    await (traced === undefined ? handler() : traced.run(handler));
    traced?.end(0);
  };
  const batch = async (calls: number) => {
    for (let done = 0; done < calls; done += IN_FLIGHT) await Promise.all(Array.from({ length: IN_FLIGHT }, one));
  };
  await batch(WARMUP_CALLS);
  const started = process.cpuUsage();
  await batch(CALLS);
  // The spans still queued are exported inside the measurement.
  await tracing?.shutdown(30_000);
  const used = process.cpuUsage(started);
  return (used.user + used.system) / CALLS;
}

async function main(): Promise<void> {
  const modeArg = process.argv[2];
  if (modeArg === "--mode") {
    console.log(await measure(process.argv[3] as Mode));
    return;
  }
  const rounds = Number(modeArg ?? 5);
  const sink = spawn(process.execPath, ["-e", SINK], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<string>((resolve) => sink.stdout.once("data", (chunk: Buffer) => resolve(chunk.toString().trim())));
    const env = { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` };
    const script = fileURLToPath(import.meta.url);
    const results: Record<Mode, number[]> = { off: [], all: [], ratio: [] };
    for (let round = 1; round <= rounds; round++) {
      // Rotated so no mode always runs first.
      const order = MODES.map((_, index) => MODES[(index + round) % MODES.length] as Mode);
      for (const mode of order) {
        const { stdout } = await promisify(execFile)(process.execPath, [script, "--mode", mode], { env });
        results[mode].push(Number(stdout.trim()));
      }
      console.log(`round ${round}: ${MODES.map((mode) => `${mode} ${results[mode].at(-1)?.toFixed(2)} µs`).join(", ")}`);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
    console.log(JSON.stringify(Object.fromEntries(MODES.map((mode) => [mode, { medianCpuUsPerCall: Number(median(results[mode]).toFixed(2)), rounds: results[mode] }]))));
  } finally {
    sink.kill();
  }
}

await main();
