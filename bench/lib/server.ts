/**
 * The built server (dist/src/main.js) as its own process, as operators run
 * it, configured per scenario through the environment. Its log lines are
 * drained (warnings and errors echoed) so a full pipe never stalls it.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The built server; BENCH_SERVER_SCRIPT points at another build to compare two versions (A/B). */
const MAIN_SCRIPT = process.env.BENCH_SERVER_SCRIPT ?? fileURLToPath(new URL("../../../dist/src/main.js", import.meta.url));

export interface BenchServer {
  pid: number;
  /** host:port from the startup line. */
  address: string;
  port: number;
  /** SIGTERM and wait for the exit (the server drains; a profile, if asked for, is written on exit). */
  stop(): Promise<void>;
}

export interface BenchServerOptions {
  env: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Another server script (e.g. the fixed-response server); default: the product. */
  script?: string;
}

/** The environment without the developer's CHATMEMORY_* and REDIS_URL, so each scenario sets its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("CHATMEMORY_") && key !== "REDIS_URL"));
}

export async function startBenchServer(options: BenchServerOptions): Promise<BenchServer> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script ?? MAIN_SCRIPT], {
    env: { ...cleanEnv(), CHATMEMORY_LISTEN: "127.0.0.1:0", ...options.env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      let entry: { msg?: unknown; level?: unknown; address?: unknown };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        process.stderr.write(`server: ${line}\n`);
        return;
      }
      if (typeof entry.msg === "string" && entry.msg.startsWith("chatmemory listening")) resolve(String(entry.address));
      else if (typeof entry.level === "number" && entry.level >= 40 && !String(entry.msg).includes("embedded in-process store")) {
        process.stderr.write(`server: ${line}\n`);
      }
    });
    void exited.then(([code]) => reject(new Error(`server exited (${String(code)}) before listening`)));
  });
  return {
    pid: child.pid ?? -1,
    address,
    port: Number(address.slice(address.lastIndexOf(":") + 1)),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}
