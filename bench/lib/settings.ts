/**
 * What one benchmark invocation measures and where it writes, read once from the environment
 * (the knobs are listed in bench/run.ts), plus the paths and small process helpers every
 * scenario shares.
 */
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MAIN_SCRIPT } from "../../test/helpers/server-process.js";
import { cpuTimeUs } from "./process-stats.js";
import type { BenchSettings, StoreKind } from "./results.js";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
export const RESULTS_DIR = resolve(ROOT, process.env.BENCH_RESULTS_DIR ?? join("bench", "results"));
export const PYTHON = join(ROOT, "bench", ".venv", "bin", "python");
export const NODE_LOAD = fileURLToPath(new URL("../node-load.js", import.meta.url));
export const FIXED_RESPONSE_SERVER = fileURLToPath(new URL("../fixed-response-server.js", import.meta.url));
/** The built server; BENCH_SERVER_SCRIPT points at another build to compare two versions (A/B). */
export const SERVER_SCRIPT = process.env.BENCH_SERVER_SCRIPT ?? MAIN_SCRIPT;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number >= 0, got ${raw}`);
  return value;
}
function envList(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  return raw.trim() === "" ? [] : raw.split(",").map((item) => item.trim());
}

export const settings: BenchSettings = {
  durationS: envNumber("BENCH_DURATION_S", 8),
  warmupS: envNumber("BENCH_WARMUP_S", 2),
  baselineS: envNumber("BENCH_BASELINE_S", 5),
  soakS: envNumber("BENCH_SOAK_S", 180),
  soakSliceS: envNumber("BENCH_SOAK_SLICE_S", 30),
  concurrencies: envList("BENCH_CONCURRENCY", ["1", "16", "64"]).map(Number),
  windows: envList("BENCH_WINDOWS", ["10", "40", "1000"]).map(Number),
  linearityWindows: envList("BENCH_LINEARITY_WINDOWS", ["100", "400"]).map(Number),
  command: "npm run bench",
};
export const stores = envList("BENCH_STORES", ["redis", "memory"]) as StoreKind[];
export const parts = new Set(envList("BENCH_PARTS", ["main", "baselines", "ghz", "memory", "soak", "watch"]));
export const rpcs = new Set(envList("BENCH_RPCS", ["ceiling", "append", "history"]));
export const profile = process.env.BENCH_CPU_PROFILE === "1";
/** Extra server settings, e.g. BENCH_SERVER_ENV="CHATMEMORY_REDIS_CONNECTIONS=2" to compare configurations. */
export const extraServerEnv = Object.fromEntries(
  (process.env.BENCH_SERVER_ENV ?? "")
    .split(/\s+/)
    .filter((pair) => pair.includes("="))
    .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]),
);
/** Node flags given as one space-separated string (as the BENCH_*_NODE_ARGS variables take them). */
export const splitNodeArgs = (flags: string | undefined): string[] => (flags ?? "").split(/\s+/).filter(Boolean);
export const serverNodeArgs = splitNodeArgs(process.env.BENCH_SERVER_NODE_ARGS);

/**
 * Concurrency semantics for h2load: c in-flight calls = connections × streams.
 * c=1 is one connection with one stream; above that, 4 connections (four
 * caller replicas) multiplex c/4 streams each. Ceiling and RPCs use the same.
 */
export function shape(concurrency: number): { connections: number; streams: number } {
  if (concurrency < 4) return { connections: 1, streams: concurrency };
  return { connections: 4, streams: Math.ceil(concurrency / 4) };
}

export const log = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 5 s) until the process uses almost no CPU over 150 ms: calls left by a previous run are done. */
export async function quiesce(pid: number): Promise<void> {
  const until = performance.now() + 5000;
  while (performance.now() < until) {
    const before = cpuTimeUs(pid);
    await sleep(150);
    if (cpuTimeUs(pid) - before <= 10_000) return;
  }
}

/** Runs a process to completion; resolves to its stdout, rejects on a non-zero exit. */
export function runProcess(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], cwd: ROOT });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(" ")} exited ${code}: ${stderr}`))));
  });
}

/** The JSON summary a generator process prints as its last line. */
export function lastJsonLine<T>(output: string): T {
  return JSON.parse(output.trim().split("\n").at(-1) ?? "{}") as T;
}
