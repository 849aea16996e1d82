/**
 * Opens ioredis connections for the three ways Redis is deployed: one server
 * (REDIS_URL), Redis Cluster (REDIS_CLUSTER_NODES) and Sentinel
 * (REDIS_SENTINELS + REDIS_SENTINEL_MASTER). All share the settings that keep
 * calls bounded: fail fast while disconnected, never replay a command after a
 * dropped connection (an Append may already have run), a timeout per command.
 * All three batch writes the same way, with ioredis auto-pipelining: the
 * commands of one event-loop turn go out in one write per connection (why not
 * a corked socket instead: bench/notes.md, fourth round).
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { HostPort } from "../host-port.js";
import { GuardedStandaloneConnector, guardSocketErrors } from "./socket-error-guard.js";

export type RedisTarget =
  | { kind: "standalone"; url: string }
  /** `tls`: to every node (a URL says it with rediss://). */
  | { kind: "cluster"; nodes: HostPort[]; tls?: boolean }
  /** `tls`: to the Sentinels and to the primary they name. */
  | { kind: "sentinel"; sentinels: HostPort[]; masterName: string; tls?: boolean };

export type RedisConnection = Redis | Cluster;

/** Credentials beyond a URL's own: for Cluster and Sentinel, which have no URL, or a URL without them. */
export interface RedisCredentials {
  /** ACL user and password of the data nodes; a password alone authenticates as `default`. */
  username?: string | undefined;
  password?: string | undefined;
  /** ACL user and password of the Sentinels themselves. */
  sentinelUsername?: string | undefined;
  sentinelPassword?: string | undefined;
}

export interface RedisConnectionSettings {
  commandTimeoutMs: number;
  /**
   * A connection for sharded Pub/Sub subscriptions only: on Cluster one subscriber per shard; on one
   * server, subscriptions are not renewed after a reconnect (its user learns of the loss instead).
   */
  subscriber?: boolean;
  /** PEM CA bundle for TLS to Redis (rediss://, or a target with `tls`); default: the system's CAs. */
  tlsCa?: string | Buffer | undefined;
  credentials?: RedisCredentials | undefined;
}

/** How often a Cluster subscriber connection reads the slot map to follow slots that moved. */
const SUBSCRIBER_SLOTS_REFRESH_MS = 1000;

/** Upper bound for reconnect back-off, so a returning Redis is picked up within about a second. */
const MAX_RECONNECT_DELAY_MS = 500;
const reconnectDelay = (attempt: number) => Math.min(attempt * 50, MAX_RECONNECT_DELAY_MS);

function connectionOptions(settings: RedisConnectionSettings): RedisOptions & { replyMapping?: "legacy" } {
  return {
    // Fail fast while disconnected instead of queueing: callers get UNAVAILABLE and can retry elsewhere.
    enableOfflineQueue: false,
    // Never replay a command after a dropped connection: an Append may already have run.
    maxRetriesPerRequest: 0,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: Math.max(settings.commandTimeoutMs, 1000),
    retryStrategy: reconnectDelay,
    connectionName: "chatmemory",
    // Left out when unset: a REDIS_URL's own credentials then apply (the configuration refuses both at once).
    ...(settings.credentials?.password === undefined ? {} : { password: settings.credentials.password }),
    ...(settings.credentials?.username === undefined ? {} : { username: settings.credentials.username }),
  };
}

/** Commands are auto-pipelined; a subscriber sends few, and its subscriptions end with its connection. */
function commandMode(settings: RedisConnectionSettings): RedisOptions {
  return settings.subscriber ? { autoResubscribe: false } : { enableAutoPipelining: true };
}

/** Guards the connection's sockets, then connects: made with lazyConnect, so the first socket is guarded too. */
function guardedAndConnecting(connection: Redis): Redis {
  guardSocketErrors(connection);
  // As ioredis does without lazyConnect: a failure reaches the "error" event and the health check.
  connection.connect().catch(() => {});
  return connection;
}

export function openRedisConnection(target: RedisTarget, settings: RedisConnectionSettings): RedisConnection {
  const options = connectionOptions(settings);
  // Node's TLS options: the system's CAs, or the configured bundle instead.
  const tlsOptions = settings.tlsCa === undefined ? {} : { ca: settings.tlsCa };
  switch (target.kind) {
    case "standalone": {
      // rediss:// turns TLS on in ioredis; a private CA is added here.
      const tls = settings.tlsCa !== undefined && target.url.startsWith("rediss:") ? { tls: tlsOptions } : {};
      return guardedAndConnecting(new Redis(target.url, { ...options, ...commandMode(settings), ...tls, lazyConnect: true }));
    }
    case "sentinel":
      return guardedAndConnecting(
        new Redis({
          ...options,
          ...commandMode(settings),
          sentinels: target.sentinels,
          name: target.masterName,
          sentinelUsername: settings.credentials?.sentinelUsername,
          sentinelPassword: settings.credentials?.sentinelPassword,
          sentinelRetryStrategy: reconnectDelay,
          ...(target.tls ? { tls: tlsOptions, enableTLSForSentinelMode: true, sentinelTLS: tlsOptions } : {}),
          lazyConnect: true,
        }),
      );
    case "cluster": {
      const clusterOptions: ClusterOptions = {
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        redisOptions: { ...options, ...(target.tls ? { tls: tlsOptions } : {}), Connector: GuardedStandaloneConnector },
        clusterRetryStrategy: reconnectDelay,
        // Writes and reads both go to primaries: GetHistory right after Append must see it.
        scaleReads: "master",
        shardedSubscribers: settings.subscriber === true,
        // A subscriber also checks the slot map on its own: ioredis refreshes it when Redis drops a
        // subscription whose slot moved, but skips that refresh while another one is running, and
        // one that read the map before the move leaves the subscription behind.
        ...(settings.subscriber === true ? { slotsRefreshInterval: SUBSCRIBER_SLOTS_REFRESH_MS } : {}),
      };
      return new Cluster(target.nodes, clusterOptions);
    }
  }
}
