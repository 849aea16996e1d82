/** The machine and tool versions a report names, so a reader can tell what was measured. */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ghzBinary } from "./ghz.js";

export interface BenchEnvironment {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  versions: Record<string, string>;
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  } catch {
    return "unknown";
  }
}

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
/** The installed version, read from node_modules (some packages do not export their package.json). */
function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function benchEnvironment(pythonBinary: string): BenchEnvironment {
  const ghz = /github\.com\/bojand\/ghz\s+(v\S+)/.exec(run("go", ["version", "-m", ghzBinary()]))?.[1] ?? "unknown";
  return {
    date: new Date().toISOString(),
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: Number(run("nproc", [])),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    versions: {
      node: process.version,
      "@grpc/grpc-js": packageVersion("@grpc/grpc-js"),
      "@bufbuild/protobuf": packageVersion("@bufbuild/protobuf"),
      ioredis: packageVersion("ioredis"),
      pino: packageVersion("pino"),
      "redis-server": /v=(\S+)/.exec(run("redis-server", ["--version"]))?.[1] ?? "unknown",
      h2load: run("h2load", ["--version"]).split("\n")[0]?.replace(/^h2load /, "") ?? "unknown",
      ghz,
      go: run("go", ["env", "GOVERSION"]),
      python: run(pythonBinary, ["--version"]).replace(/^Python /, ""),
      "redis (PyPI)": run(pythonBinary, ["-c", "import redis; print(redis.__version__)"]),
      gnuplot: run("gnuplot", ["--version"]),
    },
  };
}
