/** The built server (dist/src/main.js) as a child process, as operators run it. */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

export const MAIN_SCRIPT = fileURLToPath(new URL("../../dist/src/main.js", import.meta.url));
/** The container's HEALTHCHECK command. */
export const HEALTHCHECK_SCRIPT = fileURLToPath(new URL("../../dist/src/healthcheck.js", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  /** host:port from the startup log line. */
  address: string;
  /** Every JSON log line written so far. */
  logs: Record<string, unknown>[];
  /** Resolves to the exit code (or signal name) once the process ends. */
  exited: Promise<number | string>;
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

/** The environment without any CHATMEMORY_* or REDIS_* of the developer's shell. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("CHATMEMORY_") && !key.startsWith("REDIS_")),
  );
}

/** Starts main.js on a free loopback port and resolves once it logs that it listens. */
export async function startServerProcess(env: Record<string, string> = {}, args: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN_SCRIPT, ...args], {
    env: { ...cleanEnv(), CHATMEMORY_LISTEN: "127.0.0.1:0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const address = await new Promise<string>((resolve, reject) => {
    let buffered = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      let newline = buffered.indexOf("\n");
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf("\n");
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (typeof entry.msg === "string" && entry.msg.startsWith("chatmemory listening")) resolve(String(entry.address));
      }
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${stderr}`)));
  });
  return { child, address, logs, exited };
}
