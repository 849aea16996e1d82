/**
 * h2load (nghttp2's HTTP/2 load generator, in C) driving one gRPC unary
 * method with a pre-encoded request frame. It does not read grpc-status, so
 * callers check success another way: the DATA bytes received (a failed unary
 * call has no DATA) and store-side counters.
 */
import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { latencySummaryMs } from "./stats.js";

export interface H2loadRun {
  /** e.g. http://127.0.0.1:PORT/chatmemory.v1.ChatMemory/Append */
  url: string;
  framePath: string;
  /** HTTP/2 connections (-c). */
  connections: number;
  /** Concurrent streams per connection (-m); in-flight calls = connections × streams. */
  streams: number;
  /** Either a request count (-n) or a duration in seconds (-D). */
  requests?: number;
  durationS?: number;
  /** Where per-request latencies go (--log-file); omit to skip latency percentiles. */
  logFile?: string;
  /** Requests per second per connection (--rps), evenly paced; omit for as fast as the streams allow. */
  rps?: number;
}

export interface H2loadResult {
  requests: number;
  succeeded: number;
  notOk: number;
  status2xx: number;
  dataBytes: number;
  elapsedS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the generator itself used, in microseconds (bash `times` of the child). */
  generatorCpuUs: number;
}

function seconds(value: string, unit: string): number {
  const scale: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6 };
  return Number(value) * (scale[unit] ?? Number.NaN);
}

function field(output: string, pattern: RegExp, what: string): RegExpExecArray {
  const match = pattern.exec(output);
  if (!match) throw new Error(`h2load output has no ${what}:\n${output}`);
  return match;
}

/** Children's user + system time from bash's `times` ("0m1.234s 0m0.056s" on its second line). */
function childrenCpuUs(timesOutput: string): number {
  const line = timesOutput.trim().split("\n").at(-1) ?? "";
  let total = 0;
  for (const [, minutes, secs] of line.matchAll(/(\d+)m([\d.]+)s/g)) total += Number(minutes) * 60 + Number(secs);
  return total * 1e6;
}

export async function runH2load(run: H2loadRun): Promise<H2loadResult> {
  const args = [
    "-c", String(run.connections),
    "-m", String(run.streams),
    "-t", "1",
    "-H", "content-type: application/grpc",
    "-H", "te: trailers",
    "-d", run.framePath,
    ...(run.requests !== undefined ? ["-n", String(run.requests)] : ["-D", String(run.durationS ?? 1)]),
    ...(run.logFile ? [`--log-file=${run.logFile}`] : []),
    ...(run.rps !== undefined ? [`--rps=${run.rps}`] : []),
    run.url,
  ];
  const child = spawn("bash", ["-c", 'h2load "$@"; rc=$?; times >&2; exit $rc', "h2load", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0) throw new Error(`h2load exited with ${code}:\n${stdout}\n${stderr}`);

  const finished = field(stdout, /finished in ([\d.]+)(s|ms|us), ([\d.]+) req\/s/, "finish line");
  const requests = field(stdout, /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/, "request counts");
  const status = field(stdout, /status codes: (\d+) 2xx/, "status codes");
  const data = field(stdout, /\((\d+)\) data/, "traffic");
  let latency = { p50Ms: Number.NaN, p99Ms: Number.NaN };
  if (run.logFile) {
    const latenciesUs: number[] = [];
    let non200 = 0;
    for (const line of readFileSync(run.logFile, "utf8").split("\n")) {
      if (line === "") continue;
      const [, httpStatus, elapsedUs] = line.split("\t");
      if (httpStatus !== "200") non200++;
      latenciesUs.push(Number(elapsedUs));
    }
    rmSync(run.logFile, { force: true });
    if (non200 > 0) throw new Error(`h2load logged ${non200} responses that were not HTTP 200`);
    latency = latencySummaryMs(latenciesUs);
  }
  const succeeded = Number(requests[2]);
  return {
    requests: Number(requests[1]),
    succeeded,
    notOk: Number(requests[3]) + Number(requests[4]) + Number(requests[5]),
    status2xx: Number(status[1]),
    dataBytes: Number(data[1]),
    elapsedS: seconds(finished[1] ?? "", finished[2] ?? ""),
    rps: Number(finished[3]),
    ...latency,
    generatorCpuUs: childrenCpuUs(stderr),
  };
}
