/**
 * The built server (dist/src/main.js) as a child process, as operators run it: for the tests
 * (test/, test-faults/) and the benchmark (bench/), which also runs it from its own build in
 * dist-bench/, so paths are found from the package root rather than from this file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The nearest directory above this module with a package.json: the repository. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

export const MAIN_SCRIPT = join(packageRoot(), "dist", "src", "main.js");
/** The container's HEALTHCHECK command. */
export const HEALTHCHECK_SCRIPT = join(packageRoot(), "dist", "src", "healthcheck.js");

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  /** host:port from the startup log line. */
  address: string;
  port: number;
  /** Every log line written so far: parsed JSON, or `{ line }` for one that is not JSON. */
  logs: Record<string, unknown>[];
  /** Resolves to the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then waits for the exit (the server drains; a --cpu-prof profile is written on exit). */
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Another built script (another build for an A/B, the bench's fixed-response server); default MAIN_SCRIPT. */
  script?: string;
  /**
   * Echo warnings and errors from the log, non-JSON lines and stderr to this process's stderr
   * (the benchmark, whose servers run for minutes); otherwise stderr is only kept for the
   * error when the process exits before listening.
   */
  echo?: boolean;
  /** Keep parsed log lines in `logs` (default true); a long benchmark run needs none of them. */
  keepLogs?: boolean;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs main.js (or another built script) to completion: --help, configuration errors, the health check. */
export async function runMain(args: string[], env: Record<string, string> = {}, script = MAIN_SCRIPT): Promise<RunResult> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...cleanEnv(), ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stdout, stderr };
}

/** The environment without any CHATMEMORY_* or REDIS_* of the developer's shell, so each caller sets its own. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("CHATMEMORY_") && !key.startsWith("REDIS_")),
  );
}

/** The embedded store's startup warning is expected wherever the benchmark runs without Redis. */
const isEchoedWarning = (entry: Record<string, unknown>) =>
  typeof entry.level === "number" && entry.level >= 40 && !String(entry.msg).includes("embedded in-process store");

/**
 * Starts main.js (or `options.script`) on a free loopback port and resolves once it logs that it
 * listens. Its output is always drained, so a full pipe never stalls it.
 */
export async function startServerProcess(
  env: Record<string, string> = {},
  args: string[] = [],
  options: ServerProcessOptions = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), options.script ?? MAIN_SCRIPT, ...args], {
    env: { ...cleanEnv(), CHATMEMORY_LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    if (options.echo) process.stderr.write(chunk);
    else stderr += chunk.toString();
  });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { line };
        if (options.echo) process.stderr.write(`server: ${line}\n`);
      }
      if (options.keepLogs !== false) logs.push(entry);
      if (typeof entry.msg === "string" && entry.msg.startsWith("chatmemory listening")) resolve(String(entry.address));
      else if (options.echo && isEchoedWarning(entry)) process.stderr.write(`server: ${line}\n`);
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
  return {
    child,
    pid: child.pid ?? -1,
    address,
    port: Number(address.slice(address.lastIndexOf(":") + 1)),
    logs,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
