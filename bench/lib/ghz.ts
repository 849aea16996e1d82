/**
 * ghz (a Go gRPC load generator, from the Go module proxy) as a second,
 * independent generator: it reads grpc-status itself and reports the
 * distribution, and finds the methods through the server's reflection.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

export interface GhzRun {
  address: string;
  /** Full method name, e.g. chatmemory.v1.ChatMemory/Append */
  call: string;
  /** The request as protobuf JSON. */
  data: unknown;
  concurrency: number;
  connections: number;
  requests: number;
}

export interface GhzResult {
  count: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Every status code and how many calls got it, e.g. { OK: 20000 }. */
  statusCodes: Record<string, number>;
}

interface GhzJson {
  count: number;
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  statusCodeDistribution: Record<string, number> | null;
}

/** `ghz` on PATH, else where `go install` puts it. */
export function ghzBinary(): string {
  try {
    return execFileSync("bash", ["-c", "command -v ghz"], { encoding: "utf8" }).trim();
  } catch {
    const gopath = execFileSync("go", ["env", "GOPATH"], { encoding: "utf8" }).trim();
    const candidate = join(gopath, "bin", "ghz");
    if (!existsSync(candidate)) throw new Error("ghz not found: run bench/setup-tools.sh");
    return candidate;
  }
}

export async function runGhz(run: GhzRun): Promise<GhzResult> {
  const args = [
    "--insecure",
    "--call", run.call,
    "-d", JSON.stringify(run.data),
    "-c", String(run.concurrency),
    "--connections", String(run.connections),
    "-n", String(run.requests),
    "--timeout", "20s",
    "--format", "json",
    run.address,
  ];
  const child = spawn(ghzBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  if (code !== 0 && stdout === "") throw new Error(`ghz exited with ${code}: ${stderr}`);
  const report = JSON.parse(stdout) as GhzJson;
  const latency = (percentage: number) =>
    (report.latencyDistribution?.find((entry) => entry.percentage === percentage)?.latency ?? Number.NaN) / 1e6;
  return {
    count: report.count,
    rps: report.rps,
    p50Ms: latency(50),
    p99Ms: latency(99),
    statusCodes: report.statusCodeDistribution ?? {},
  };
}
