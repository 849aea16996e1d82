/**
 * A real redis-server process on a free loopback port with its own temp dir,
 * for tests that need to stop, kill, pause or restart Redis.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";

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
  /** Serve TLS only (rediss://) with this certificate; clients are not asked for one. */
  tls?: { cert: string; key: string; ca: string; caPem: Buffer };
  /** More redis-server arguments (cluster mode, replication, ...). */
  extraArgs?: string[];
}

export class RedisServerProcess {
  readonly port: number;
  readonly url: string;
  readonly #dir: string;
  readonly #durable: boolean;
  readonly #tls: RedisServerOptions["tls"];
  readonly #extraArgs: string[];
  #child: ChildProcess | undefined;

  private constructor(port: number, durable: boolean, tls: RedisServerOptions["tls"], extraArgs: string[]) {
    this.port = port;
    this.url = `${tls ? "rediss" : "redis"}://127.0.0.1:${port}/0`;
    this.#durable = durable;
    this.#tls = tls;
    this.#extraArgs = extraArgs;
    this.#dir = mkdtempSync(join(tmpdir(), "chatmemory-redis-"));
  }

  /** ioredis options for a client of this server (the test CA for TLS). */
  get clientOptions(): RedisOptions {
    return this.#tls ? { tls: { ca: this.#tls.caPem } } : {};
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(options.port ?? (await freePort()), options.durable ?? false, options.tls, options.extraArgs ?? []);
    await server.start();
    return server;
  }

  /** Starts (or restarts) redis-server on the same port and waits until it answers PING. */
  async start(): Promise<void> {
    const persistence = this.#durable
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"];
    const listen = this.#tls
      ? ["--port", "0", "--tls-port", String(this.port), "--tls-cert-file", this.#tls.cert, "--tls-key-file", this.#tls.key,
         "--tls-ca-cert-file", this.#tls.ca, "--tls-auth-clients", "no"]
      : ["--port", String(this.port)];
    const child = spawn(
      "redis-server",
      [...listen, "--bind", "127.0.0.1", "--save", "", "--dir", this.#dir, "--daemonize", "no", ...persistence, ...this.#extraArgs],
      { stdio: "ignore" },
    );
    this.#child = child;
    const exited = new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`redis-server exited early (code ${code})`))),
    );
    exited.catch(() => {});
    await Promise.race([waitForPing(this.url, 10_000, this.clientOptions), exited]);
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
    return new Redis(this.url, { maxRetriesPerRequest: 1, ...this.clientOptions });
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
export async function waitForPing(url: string, timeoutMs: number, options: RedisOptions = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, ...options });
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
