/**
 * CPU time and memory of another process, read from /proc (Linux): the
 * server under test is sampled from outside, so the product carries no
 * benchmark hooks. utime+stime cover every thread of the process (V8's GC
 * and compiler threads, libuv's pool), like process.cpuUsage() inside it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const CLOCK_TICKS_PER_SECOND = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** User + system CPU time the process has used so far, in microseconds. */
export function cpuTimeUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

/** Resident set size now and its peak, in MiB. */
export function memoryMiB(pid: number): { rssMiB: number; peakRssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib("VmRSS") / 1024, peakRssMiB: kib("VmHWM") / 1024 };
}

/**
 * How long the process's main thread has waited for a CPU while runnable, in microseconds
 * (/proc/<pid>/schedstat, second field): on a shared machine, the part of a latency that is
 * the neighbours' load rather than the process's own work.
 */
export function runQueueWaitUs(pid: number): number {
  const [, waitNs] = readFileSync(`/proc/${pid}/schedstat`, "utf8").trim().split(" ");
  return Number(waitNs) / 1000;
}
