/** A Sentinel deployment on loopback: one primary, one replica and three sentinels, all real processes. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis, type RedisOptions } from "ioredis";
import type { HostPort } from "../../src/host-port.js";
import { RedisServerProcess, type RedisServerOptions, freePort, waitForPing } from "./redis-server.js";

export const SENTINEL_MASTER = "chatmemory-primary";
// Sync replicas at once (the default 5 s diskless delay outlasts a fresh replica's wait for PSYNC).
const REPLICATION_ARGS = ["--repl-diskless-sync-delay", "0"];

export class RedisSentinelDeployment {
  private constructor(
    readonly primary: RedisServerProcess,
    readonly replica: RedisServerProcess,
    readonly sentinels: { port: number; child: ChildProcess }[],
    /** ioredis options for talking to the sentinels (the test CA with TLS). */
    readonly sentinelClientOptions: RedisOptions,
  ) {}

  /** With `tls`, the primary, the replica, replication and the sentinels speak TLS only. */
  static async start(tls?: RedisServerOptions["tls"]): Promise<RedisSentinelDeployment> {
    const replication = [...REPLICATION_ARGS, ...(tls ? ["--tls-replication", "yes"] : [])];
    const primary = await RedisServerProcess.start({ tls, extraArgs: replication });
    const replica = await RedisServerProcess.start({
      tls,
      extraArgs: [...replication, "--replicaof", "127.0.0.1", String(primary.port)],
    });
    const sentinels = [];
    const sentinelClientOptions: RedisOptions = tls ? { tls: { ca: tls.caPem } } : {};
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "chatmemory-sentinel-"));
      const config = join(dir, "sentinel.conf");
      const listen = tls
        ? ["port 0", `tls-port ${port}`, `tls-cert-file ${tls.cert}`, `tls-key-file ${tls.key}`, `tls-ca-cert-file ${tls.ca}`,
           "tls-auth-clients no", "tls-replication yes"]
        : [`port ${port}`];
      writeFileSync(
        config,
        [
          ...listen,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
          `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
          "",
        ].join("\n"),
      );
      const child = spawn("redis-server", [config, "--sentinel"], { stdio: "ignore" });
      await waitForPing(`${tls ? "rediss" : "redis"}://127.0.0.1:${port}`, 10_000, sentinelClientOptions);
      sentinels.push({ port, child });
    }
    const deployment = new RedisSentinelDeployment(primary, replica, sentinels, sentinelClientOptions);
    await deployment.waitForPrimary(primary.port, 15_000);
    await deployment.waitUntilReplicaSynced(15_000);
    return deployment;
  }

  get sentinelAddresses(): HostPort[] {
    return this.sentinels.map(({ port }) => ({ host: "127.0.0.1", port }));
  }

  /** The primary's port as every sentinel reports it. */
  async primaryPorts(): Promise<number[]> {
    return Promise.all(
      this.sentinels.map(async ({ port }) => {
        const client = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, ...this.sentinelClientOptions });
        try {
          await client.connect();
          const [, primaryPort] = (await client.call("SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)) as [string, string];
          return Number(primaryPort);
        } finally {
          client.disconnect();
        }
      }),
    );
  }

  /** Resolves when all sentinels agree that `port` is the primary, and its replica (if any) is in sync. */
  async waitForPrimary(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ports = await this.primaryPorts().catch(() => []);
      if (ports.length === this.sentinels.length && ports.every((p) => p === port)) return;
      if (Date.now() > deadline) throw new Error(`sentinels did not agree on primary ${port} in time (saw ${ports.join(",")})`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Resolves when the replica's link to the primary is up: until then a failover would lose everything. */
  async waitUntilReplicaSynced(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = this.replica.client();
      const info = await client.info("replication").catch(() => "");
      client.disconnect();
      if (info.includes("master_link_status:up")) return;
      if (Date.now() > deadline) throw new Error("the replica did not sync in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    for (const { child } of this.sentinels) child.kill("SIGKILL");
    await Promise.all([this.primary.stop(), this.replica.stop()]);
  }
}
