/**
 * Every setting, declared once: its environment variable, flag, type, range,
 * default and help. The Config type, the command line, `--help` and the table
 * in docs/configuration.md are all derived from this table.
 */
import { accessSync, constants } from "node:fs";
import { AUTH_MODES } from "./auth/tenants.js";
import { parseHostPort, parseHostPortList } from "./host-port.js";
import { TOKEN_ENCODINGS } from "./tokens/encodings.js";

/** How a setting's text becomes a value; `parse` throws an Error saying what it must be. */
export interface ValueType<T> {
  /** What it accepts, for the docs table. */
  readonly accepts: string;
  /** Given the value as written, surrounding spaces included (passwords); others get it trimmed. */
  readonly verbatim?: boolean;
  parse(raw: string): T;
}

export interface Setting<T, Default extends T | undefined> {
  readonly env: string;
  /** `--name <value>`: the variable's name in kebab case, without CHATMEMORY_. */
  readonly flag: string;
  readonly type: ValueType<T>;
  readonly default: Default;
  readonly help: string;
}

function setting<T>(spec: { env: string; flag: string; type: ValueType<T>; default: NoInfer<T>; help: string }): Setting<T, T>;
function setting<T>(spec: { env: string; flag: string; type: ValueType<T>; help: string }): Setting<T, undefined>;
function setting<T>(spec: { env: string; flag: string; type: ValueType<T>; default?: T; help: string }): Setting<T, T | undefined> {
  return { ...spec, default: spec.default };
}

function integer(min: number, max: number): ValueType<number> {
  return {
    accepts: `whole number ${min}..${max}`,
    parse(raw) {
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min || value > max) throw new Error(`must be a whole number from ${min} to ${max}`);
      return value;
    },
  };
}

/** Longest TTL Redis PEXPIRE and Node timers handle comfortably: about 24 days, in seconds. */
const MAX_TTL_SECONDS = 2_000_000;

const seconds: ValueType<number> = {
  accepts: `seconds > 0 and <= ${MAX_TTL_SECONDS}, fractions allowed`,
  parse(raw) {
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0 || value > MAX_TTL_SECONDS) {
      throw new Error(`must be a number of seconds > 0 and <= ${MAX_TTL_SECONDS} (fractions allowed)`);
    }
    return value;
  },
};

const listenAddress: ValueType<string> = {
  accepts: "host:port (port 0 = any free port)",
  parse(raw) {
    try {
      parseHostPort(raw, { allowPortZero: true });
    } catch {
      throw new Error("must be host:port, e.g. 127.0.0.1:50051, 0.0.0.0:50051 or [::1]:50051");
    }
    return raw;
  },
};

const hostPortList: ValueType<ReturnType<typeof parseHostPortList>> = {
  accepts: "host:port,host:port,...",
  parse(raw) {
    try {
      return parseHostPortList(raw);
    } catch (error: unknown) {
      throw new Error(`${(error as Error).message}, e.g. 10.0.0.1:6379,10.0.0.2:6379`);
    }
  },
};

const redisUrl: ValueType<string> = {
  accepts: "redis://[user:password@]host:port/db, or rediss:// for TLS",
  parse(raw) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error("must be a URL like redis://host:6379/0 or rediss://host:6380/0");
    }
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new Error(`scheme must be redis:// or rediss://, got ${url.protocol}//`);
    if (!url.hostname) throw new Error("must name a host, e.g. redis://127.0.0.1:6379/0");
    const db = url.pathname.replace(/^\//, "");
    if (db !== "" && !/^\d+$/.test(db)) throw new Error("database must be a number, e.g. /0");
    return raw;
  },
};

function matching(pattern: RegExp, accepts: string, problem: string): ValueType<string> {
  return {
    accepts,
    parse(raw) {
      if (!pattern.test(raw)) throw new Error(problem);
      return raw;
    },
  };
}

const text: ValueType<string> = { accepts: "text", verbatim: true, parse: (raw) => raw };

const boolean: ValueType<boolean> = {
  accepts: "true/false (also 1/0, yes/no, on/off)",
  parse(raw) {
    const value = raw.toLowerCase();
    if (["false", "0", "no", "off"].includes(value)) return false;
    if (["true", "1", "yes", "on"].includes(value)) return true;
    throw new Error("must be true or false");
  },
};

/** A file path that exists and can be read now (certificates, keys, tenant files). */
const readableFile: ValueType<string> = {
  accepts: "path of a readable file",
  parse(raw) {
    try {
      accessSync(raw, constants.R_OK);
    } catch {
      throw new Error(`cannot read ${raw}`);
    }
    return raw;
  },
};

function oneOf<const T extends string>(choices: readonly T[]): ValueType<T> {
  return {
    accepts: choices.join(", "),
    parse(raw) {
      const value = raw.toLowerCase();
      if (!(choices as readonly string[]).includes(value)) throw new Error(`must be one of ${choices.join(", ")}`);
      return value as T;
    },
  };
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The settings, in the order `--help` and the docs list them. */
export const SETTINGS = {
  listen: setting({ env: "CHATMEMORY_LISTEN", flag: "--listen <host:port>", type: listenAddress, default: "127.0.0.1:50051", help: "address to serve gRPC on (0.0.0.0:50051 in a container)" }),
  healthListen: setting({ env: "CHATMEMORY_HEALTH_LISTEN", flag: "--health-listen <host:port>", type: listenAddress, help: "plaintext listener with only grpc.health.v1, for probes when the main port uses TLS; unset = none" }),
  metricsListen: setting({ env: "CHATMEMORY_METRICS_LISTEN", flag: "--metrics-listen <host:port>", type: listenAddress, help: "HTTP listener for Prometheus metrics at /metrics; unset = no metrics" }),
  redisUrl: setting({ env: "REDIS_URL", flag: "--redis-url <url>", type: redisUrl, help: "Redis URL; unset (and no Cluster or Sentinels) = embedded in-process store (not shared, lost on restart)" }),
  redisClusterNodes: setting({ env: "REDIS_CLUSTER_NODES", flag: "--redis-cluster-nodes <list>", type: hostPortList, help: "Redis Cluster seed nodes (instead of REDIS_URL)" }),
  redisSentinels: setting({ env: "REDIS_SENTINELS", flag: "--redis-sentinels <list>", type: hostPortList, help: "Sentinels (instead of REDIS_URL; with REDIS_SENTINEL_MASTER)" }),
  redisSentinelMaster: setting({ env: "REDIS_SENTINEL_MASTER", flag: "--redis-sentinel-master <name>", type: matching(/^[A-Za-z0-9._-]{1,128}$/, "1..128 of A-Z a-z 0-9 . _ -", "must be a Sentinel master name like mymaster"), help: "name of the primary the Sentinels monitor" }),
  redisUsername: setting({ env: "REDIS_USERNAME", flag: "--redis-username <name>", type: text, help: "ACL user of the Redis data nodes (Cluster nodes, the primary behind the Sentinels, or a REDIS_URL without credentials); needs REDIS_PASSWORD" }),
  redisPassword: setting({ env: "REDIS_PASSWORD", flag: "--redis-password <secret>", type: text, help: "password of the Redis data nodes; alone, the default user's (requirepass). Prefer the variable: flags show in ps" }),
  redisSentinelUsername: setting({ env: "REDIS_SENTINEL_USERNAME", flag: "--redis-sentinel-username <name>", type: text, help: "ACL user for the Sentinels" }),
  redisSentinelPassword: setting({ env: "REDIS_SENTINEL_PASSWORD", flag: "--redis-sentinel-password <secret>", type: text, help: "password for the Sentinels (prefer the variable)" }),
  maxTurns: setting({ env: "CHATMEMORY_MAX_TURNS", flag: "--max-turns <n>", type: integer(1, 100_000), default: 10, help: "turns kept per conversation; the window is max-turns * 2 messages" }),
  ttlSeconds: setting({ env: "CHATMEMORY_TTL_SECONDS", flag: "--ttl-seconds <s>", type: seconds, help: "expire a conversation this long after its last append; unset = never" }),
  keyPrefix: setting({ env: "CHATMEMORY_KEY_PREFIX", flag: "--key-prefix <prefix>", type: matching(/^[A-Za-z0-9._:@/-]{1,128}$/, "1..128 of A-Z a-z 0-9 . _ : @ / - (no braces)", "must be 1..128 characters of letters, digits and . _ : @ / - (no spaces or braces)"), default: "ractogateway:memory", help: "Redis key prefix (the Python class's default)" }),
  maxPinned: setting({ env: "CHATMEMORY_MAX_PINNED", flag: "--max-pinned <n>", type: integer(0, 1000), default: 8, help: "most pinned messages per conversation (kept apart from the window, never trimmed); 0 = pinning refused" }),
  toolSafeWindow: setting({ env: "CHATMEMORY_TOOL_SAFE_WINDOW", flag: "--tool-safe-window <bool>", type: boolean, default: true, help: "trims and limit reads never leave a tool message leading the window (its assistant call was cut); false = the Python class's plain trim" }),
  tokenEncoding: setting({ env: "CHATMEMORY_TOKEN_ENCODING", flag: "--token-encoding <name>", type: oneOf(TOKEN_ENCODINGS), default: "o200k_base", help: "tiktoken encoding for token_count and max_tokens (ranks ship with the server, never downloaded)" }),
  watchBuffer: setting({ env: "CHATMEMORY_WATCH_BUFFER", flag: "--watch-buffer <n>", type: integer(1, 1_000_000), default: 1000, help: "most messages held for one Watch stream whose caller reads slowly; beyond, they are dropped and the caller gets a reset" }),
  maxBatch: setting({ env: "CHATMEMORY_MAX_BATCH", flag: "--max-batch <n>", type: integer(1, 1000), default: 100, help: "most messages in one Append" }),
  maxContentBytes: setting({ env: "CHATMEMORY_MAX_CONTENT_BYTES", flag: "--max-content-bytes <n>", type: integer(1, 64 * 1024 * 1024), default: 1024 * 1024, help: "most UTF-8 bytes in one message's content" }),
  maxReceiveBytes: setting({ env: "CHATMEMORY_MAX_RECEIVE_BYTES", flag: "--max-receive-bytes <n>", type: integer(1024, 256 * 1024 * 1024), default: 8 * 1024 * 1024, help: "largest gRPC request accepted (larger: RESOURCE_EXHAUSTED)" }),
  logLevel: setting({ env: "CHATMEMORY_LOG_LEVEL", flag: "--log-level <level>", type: oneOf(LOG_LEVELS), default: "info", help: "log level (JSON lines on stdout)" }),
  redisTimeoutMs: setting({ env: "CHATMEMORY_REDIS_TIMEOUT_MS", flag: "--redis-timeout-ms <ms>", type: integer(10, 60_000), default: 1000, help: "every Redis command fails with UNAVAILABLE after this long" }),
  redisConnections: setting({ env: "CHATMEMORY_REDIS_CONNECTIONS", flag: "--redis-connections <n>", type: integer(1, 64), default: 1, help: "Redis connections shared by all requests (commands batched per event-loop turn)" }),
  shutdownGraceMs: setting({ env: "CHATMEMORY_SHUTDOWN_GRACE_MS", flag: "--shutdown-grace-ms <ms>", type: integer(0, 600_000), default: 10_000, help: "on SIGTERM/SIGINT, how long in-flight calls may take before they are cancelled" }),
  requestIdTtlSeconds: setting({ env: "CHATMEMORY_REQUEST_ID_TTL_SECONDS", flag: "--request-id-ttl-seconds <s>", type: seconds, default: 86_400, help: "how long an Append's request_id is remembered for idempotent retries" }),
  decodeCacheMb: setting({ env: "CHATMEMORY_DECODE_CACHE_MB", flag: "--decode-cache-mb <n>", type: integer(0, 65_536), default: 32, help: "memory for decoded reads: messages by their stored text, and (Redis) each window's last read, matched byte for byte (never stale); 0 = off" }),
  maxConnectionIdleMs: setting({ env: "CHATMEMORY_MAX_CONNECTION_IDLE_MS", flag: "--max-connection-idle-ms <ms>", type: integer(1000, 86_400_000), default: 300_000, help: "close connections (idle sockets included) with no call for this long" }),
  maxConnectionAgeMs: setting({ env: "CHATMEMORY_MAX_CONNECTION_AGE_MS", flag: "--max-connection-age-ms <ms>", type: integer(1000, 86_400_000), help: "send GOAWAY to every connection this old, so clients reconnect and spread over new replicas (behind a proxy or a mesh); unset = never" }),
  maxConnectionAgeGraceMs: setting({ env: "CHATMEMORY_MAX_CONNECTION_AGE_GRACE_MS", flag: "--max-connection-age-grace-ms <ms>", type: integer(0, 600_000), help: "after that GOAWAY, how long calls already running on the connection may take before it is closed; unset = no limit" }),
  tlsCert: setting({ env: "CHATMEMORY_TLS_CERT", flag: "--tls-cert <path>", type: readableFile, help: "server certificate chain (PEM); with CHATMEMORY_TLS_KEY: serve TLS" }),
  tlsKey: setting({ env: "CHATMEMORY_TLS_KEY", flag: "--tls-key <path>", type: readableFile, help: "server private key (PEM)" }),
  tlsClientCa: setting({ env: "CHATMEMORY_TLS_CLIENT_CA", flag: "--tls-client-ca <path>", type: readableFile, help: "CA bundle (PEM) for client certificates: require mTLS" }),
  tlsReloadMs: setting({ env: "CHATMEMORY_TLS_RELOAD_MS", flag: "--tls-reload-ms <ms>", type: integer(100, 86_400_000), default: 60_000, help: "re-read certificate files this often (rotation without restart)" }),
  redisTls: setting({ env: "REDIS_TLS", flag: "--redis-tls <bool>", type: boolean, default: false, help: "TLS to Cluster nodes, or to the Sentinels and their primary (for REDIS_URL write rediss://)" }),
  redisTlsCa: setting({ env: "CHATMEMORY_REDIS_TLS_CA", flag: "--redis-tls-ca <path>", type: readableFile, help: "CA bundle (PEM) to verify Redis's TLS certificates; unset = the system's CAs" }),
  auth: setting({ env: "CHATMEMORY_AUTH", flag: "--auth <mode>", type: oneOf(AUTH_MODES), default: "none", help: "tenant scoping: token = bearer tokens from CHATMEMORY_TENANTS_FILE, mtls = client certificate CN" }),
  tenantsFile: setting({ env: "CHATMEMORY_TENANTS_FILE", flag: "--tenants-file <path>", type: readableFile, help: 'JSON {"<tenant>": {"token_sha256": ["<hex>"]}} for CHATMEMORY_AUTH=token' }),
  healthIntervalMs: setting({ env: "CHATMEMORY_HEALTH_INTERVAL_MS", flag: "--health-interval-ms <ms>", type: integer(50, 60_000), default: 500, help: "how often the store is pinged for the health service" }),
};

type Settings = typeof SETTINGS;

/** The value of every setting: its type, or undefined where the setting has no default. */
export type SettingValues = {
  -readonly [K in keyof Settings]: Settings[K] extends Setting<infer T, infer Default> ? (undefined extends Default ? T | undefined : T) : never;
};

/** The settings as a Markdown table (docs/configuration.md holds it between markers; a test keeps it current). */
export function settingsMarkdownTable(): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const rows = Object.values(SETTINGS).map((entry: Setting<unknown, unknown>) => {
    const fallback = entry.default === undefined ? "unset" : `\`${String(entry.default)}\``;
    return `| \`${entry.env}\` | \`${entry.flag.split(" ")[0]}\` | ${fallback} | ${cell(entry.type.accepts)} | ${cell(entry.help)} |`;
  });
  return ["| Variable | Flag | Default | Accepts | What it does |", "|---|---|---|---|---|", ...rows].join("\n");
}
