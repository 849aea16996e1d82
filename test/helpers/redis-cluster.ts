/** A 6-node Redis Cluster (3 primaries, 3 replicas) of redis-server processes on loopback ports. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import type { HostPort } from "../../src/host-port.js";
import { RedisServerProcess, type RedisServerOptions } from "./redis-server.js";

const run = promisify(execFile);

export class RedisClusterProcesses {
  private constructor(readonly nodes: RedisServerProcess[]) {}

  /**
   * `size` nodes: with 6 or more, half are replicas; fewer are all primaries. With `tls`, every
   * node, the cluster bus and replication speak TLS only.
   */
  static async start(size = 6, tls?: RedisServerOptions["tls"]): Promise<RedisClusterProcesses> {
    const nodes = await Promise.all(
      Array.from({ length: size }, () =>
        RedisServerProcess.start({
          tls,
          extraArgs: [
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            // A short node timeout so a failover takes about a second, not fifteen.
            "--cluster-node-timeout", "1000",
            // Sync replicas at once: the default 5 s diskless-sync delay outlasts the replica's 5 s
            // wait for the PSYNC reply, so a fresh replica never syncs and cannot fail over.
            "--repl-diskless-sync-delay", "0",
            ...(tls ? ["--tls-cluster", "yes", "--tls-replication", "yes"] : []),
          ],
        }),
      ),
    );
    const cluster = new RedisClusterProcesses(nodes);
    const replicas = size >= 6 ? 1 : 0;
    const tlsArgs = tls ? ["--tls", "--cacert", tls.ca] : [];
    await run("redis-cli", [...tlsArgs, "--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"]);
    await cluster.waitUntilHealthy(20_000);
    if (replicas > 0) await cluster.waitUntilReplicasSynced(20_000);
    return cluster;
  }

  get seeds(): HostPort[] {
    return this.nodes.map((node) => ({ host: "127.0.0.1", port: node.port }));
  }

  /** Runs a command on one node (CLUSTER KEYSLOT, CLUSTER NODES, ...). */
  async command(node: RedisServerProcess, ...args: string[]): Promise<unknown> {
    const client = new Redis(node.url, { lazyConnect: true, maxRetriesPerRequest: 0, ...node.clientOptions });
    try {
      await client.connect();
      return await client.call(args[0] as string, ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  /** The node that the live nodes name as primary for `slot` (skipping nodes known to be down). */
  async primaryFor(slot: number, skip: RedisServerProcess[] = []): Promise<RedisServerProcess> {
    for (const node of this.nodes.filter((candidate) => !skip.includes(candidate))) {
      const shards = (await this.command(node, "CLUSTER", "SLOTS").catch(() => undefined)) as [number, number, [string, number]][] | undefined;
      const owner = shards?.find(([from, to]) => slot >= from && slot <= to)?.[2];
      const primary = this.nodes.find((candidate) => candidate.port === owner?.[1]);
      if (primary) return primary;
    }
    throw new Error(`no primary for slot ${slot}`);
  }

  /** Resolves when every reachable node reports cluster_state:ok. */
  async waitUntilHealthy(timeoutMs: number, skip: RedisServerProcess[] = []): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        this.nodes.filter((node) => !skip.includes(node)).map((node) => this.command(node, "CLUSTER", "INFO").then(String, () => "")),
      );
      if (states.every((info) => info.includes("cluster_state:ok"))) return;
      if (Date.now() > deadline) throw new Error("the cluster did not become healthy in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Resolves when every replica's link to its primary is up (so a failover keeps the data). */
  async waitUntilReplicasSynced(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const infos = await Promise.all(this.nodes.map((node) => this.command(node, "INFO", "replication").then(String, () => "")));
      const replicas = infos.filter((info) => info.includes("role:slave"));
      if (replicas.length > 0 && replicas.every((info) => info.includes("master_link_status:up"))) return;
      if (Date.now() > deadline) throw new Error("the replicas did not sync in time");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The primaries' node ids and the number of slots each serves (from CLUSTER NODES). */
  async primaries(): Promise<{ id: string; port: number; slots: number }[]> {
    const lines = String(await this.command(this.nodes[0]!, "CLUSTER", "NODES")).trim().split("\n");
    return lines
      .map((line) => line.split(" "))
      .filter((fields) => fields[2]?.includes("master") && !fields[2].includes("fail"))
      .map((fields) => ({
        id: fields[0]!,
        port: Number(/:(\d+)@/.exec(fields[1]!)?.[1]),
        slots: fields.slice(8).reduce((sum, range) => {
          const [from, to = from] = range.split("-").map(Number);
          return range.startsWith("[") ? sum : sum + (to! - from! + 1);
        }, 0),
      }));
  }

  /** The port of the primary serving each of `slots`, by CLUSTER SLOTS on the first node. */
  async ownersOf(slots: number[]): Promise<number[]> {
    const ranges = (await this.command(this.nodes[0]!, "CLUSTER", "SLOTS")) as [number, number, [string, number]][];
    return slots.map((slot) => ranges.find(([from, to]) => slot >= from && slot <= to)?.[2][1] ?? 0);
  }

  /** Moves `slots` slots, keys included, from one primary to another, live (redis-cli --cluster reshard). */
  async reshard(fromId: string, toId: string, slots: number): Promise<void> {
    const seed = `127.0.0.1:${this.nodes[0]!.port}`;
    await run("redis-cli", ["--cluster", "reshard", seed, "--cluster-from", fromId, "--cluster-to", toId, "--cluster-slots", String(slots), "--cluster-yes"], {
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}
