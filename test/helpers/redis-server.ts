/**
 * A real redis-server process on a free loopback port with its own temp dir,
 * for tests that need to stop, kill, pause or restart Redis.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServerOptions {
  /** Durable mode (appendonly yes, appendfsync always) for crash tests. */
  durable?: boolean;
  port?: number;
}

export class RedisServerProcess {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #durable: boolean;
  #child: ChildProcess | undefined;

  private constructor(port: number, durable: boolean) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}/0`;
    this.#durable = durable;
    this.#dir = mkdtempSync(join(tmpdir(), "chatmemory-redis-"));
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(options.port ?? (await freePort()), options.durable ?? false);
    await server.start();
    return server;
  }

  /** Starts (or restarts) redis-server on the same port and waits until it answers PING. */
  async start(): Promise<void> {
    const persistence = this.#durable
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"];
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--dir", this.#dir, "--daemonize", "no", ...persistence],
      { stdio: "ignore" },
    );
    this.#child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`redis-server exited early (code ${code})`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPing(this.url, 10_000), exited]);
  }

  /** SIGKILL, as a crash: no shutdown save, connections dropped at once. */
  async kill(): Promise<void> {
    await this.#signalAndWait("SIGKILL");
  }

  /** Freezes the process (SIGSTOP): connections stay open but nothing answers. */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** A fresh ioredis client for raw commands in tests (caller quits it). */
  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: 1 });
  }

  async stop(): Promise<void> {
    this.resume();
    await this.#signalAndWait("SIGTERM");
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
  }
}

/** Resolves once Redis at `url` answers PING; rejects after `timeoutMs`. */
export async function waitForPing(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.ping();
      return;
    } catch (error: unknown) {
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms`, { cause: error });
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}
