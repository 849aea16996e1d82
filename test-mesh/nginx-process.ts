/**
 * nginx (Debian's package) as a non-daemon child process running deploy/nginx/chatmemory.conf,
 * with the example's replica addresses, listen port and log path swapped for loopback ones and
 * temp dirs, so the shipped example is what the test exercises.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/helpers/redis-server.js";

export const EXAMPLE_CONFIG = new URL("../deploy/nginx/chatmemory.conf", import.meta.url);

export interface NginxProcess {
  /** 127.0.0.1:port that nginx listens on. */
  readonly address: string;
  readonly accessLog: string;
  readonly errorLog: string;
  /** Graceful stop (SIGQUIT), then waits for the exit. */
  stop(): Promise<void>;
  /** Removes the temp dir (logs included). */
  remove(): void;
}

function replaceExactly(text: string, pattern: RegExp, count: number, replace: (match: string, ...groups: string[]) => string): string {
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`)) ?? [];
  if (matches.length !== count) throw new Error(`deploy/nginx/chatmemory.conf: expected ${count} match(es) of ${pattern}, found ${matches.length}`);
  return text.replace(pattern, replace);
}

export interface NginxOptions {
  /** Replaces the example's upstream `keepalive_time` (nginx syntax, "5s"): it must stay below the replicas' max connection age. */
  upstreamKeepaliveTime?: string;
}

/** The example with `upstreams` (host:port) as its replicas, listening on `port`, logging to `accessLog`. */
export function renderExample(upstreams: readonly string[], port: number, accessLog: string, options: NginxOptions = {}): string {
  let config = readFileSync(EXAMPLE_CONFIG, "utf8");
  // The example's two replicas become one line per upstream, keeping the example's parameters.
  let first = true;
  config = replaceExactly(config, /^(\s*)server 10\.0\.0\.\d+:50051( [^;]*)?;\n/gm, 2, (_match, indent = "", params = "") => {
    if (!first) return "";
    first = false;
    return upstreams.map((upstream) => `${indent}server ${upstream}${params};\n`).join("");
  });
  config = replaceExactly(config, /^(\s*)listen 50051 http2;$/m, 1, (_match, indent = "") => `${indent}listen 127.0.0.1:${port} http2;`);
  config = replaceExactly(config, /\/var\/log\/nginx\/chatmemory-grpc\.log/, 1, () => accessLog);
  const { upstreamKeepaliveTime } = options;
  if (upstreamKeepaliveTime !== undefined) {
    config = replaceExactly(config, /^(\s*)keepalive_time \w+;$/m, 1, (_match, indent = "") => `${indent}keepalive_time ${upstreamKeepaliveTime};`);
  }
  return config;
}

async function waitForPort(port: number, exited: Promise<unknown>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let stopped = false;
  void exited.then(() => (stopped = true));
  while (Date.now() < deadline && !stopped) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(stopped ? "nginx exited before listening" : `nginx did not listen within ${timeoutMs} ms`);
}

/** Starts nginx in front of `upstreams` (host:port each) on a free loopback port. */
export async function startNginx(upstreams: readonly string[], options: NginxOptions = {}): Promise<NginxProcess> {
  const dir = mkdtempSync(join(tmpdir(), "chatmemory-nginx-"));
  // Workers run as nobody when the master is root: they must reach the temp dirs nginx makes here.
  chmodSync(dir, 0o755);
  const accessLog = join(dir, "access.log");
  const errorLog = join(dir, "error.log");
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, "chatmemory.conf"), renderExample(upstreams, port, accessLog, options));
    const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`).join("\n");
    writeFileSync(
      join(dir, "nginx.conf"),
      [
        "daemon off;",
        "worker_processes 1;",
        `pid ${join(dir, "nginx.pid")};`,
        `error_log ${errorLog} warn;`,
        "events { worker_connections 1024; }",
        "http {",
        temp,
        `  include ${join(dir, "chatmemory.conf")};`,
        "}",
        "",
      ].join("\n"),
    );
    // -e: the error log before the configuration is read (the default, /var/log/nginx, may not exist).
    const child: ChildProcess = spawn("nginx", ["-e", errorLog, "-p", dir, "-c", join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    try {
      await waitForPort(port, exited, 10_000);
    } catch (error: unknown) {
      child.kill("SIGKILL");
      await exited;
      // The free port can be taken between the probe and nginx's bind: try another.
      if (attempt < 3) continue;
      const log = readFileSync(errorLog, { encoding: "utf8", flag: "a+" });
      throw new Error(`${(error as Error).message}: ${stderr}${log}`);
    }
    return {
      address: `127.0.0.1:${port}`,
      accessLog,
      errorLog,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGQUIT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      },
      remove() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}
