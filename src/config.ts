/**
 * Configuration from environment variables and the same-named flags
 * (`CHATMEMORY_MAX_TURNS` <-> `--max-turns`; a flag wins over its variable),
 * parsed and validated once with commander into a frozen object.
 */
import { accessSync, constants } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { AUTH_MODES, type AuthMode, loadTenantTokens } from "./auth/tenants.js";
import { HOST_PORT_PATTERN, type HostPort, parseHostPorts } from "./store/redis-connection.js";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** host:port the gRPC server binds. */
  listen: string;
  /**
   * host:port of a second, plaintext listener with only grpc.health.v1: for the container
   * HEALTHCHECK and kubelet gRPC probes when the main port needs TLS or a client certificate.
   */
  healthListen: string | undefined;
  /** host:port of an HTTP listener serving Prometheus metrics at /metrics; undefined = no metrics. */
  metricsListen: string | undefined;
  /** Redis URL; undefined (and no cluster or sentinels) selects the embedded in-process store. */
  redisUrl: string | undefined;
  /** Redis Cluster seed nodes (REDIS_CLUSTER_NODES). */
  redisClusterNodes: HostPort[] | undefined;
  /** Sentinels and the monitored primary's name (REDIS_SENTINELS, REDIS_SENTINEL_MASTER). */
  redisSentinels: HostPort[] | undefined;
  redisSentinelMaster: string | undefined;
  /**
   * ACL user and password for the Redis data nodes: Cluster nodes, the primary behind the
   * Sentinels, or a REDIS_URL that carries none. Password alone = the `default` user (requirepass).
   */
  redisUsername: string | undefined;
  redisPassword: string | undefined;
  /** The same for the Sentinels themselves (their own requirepass or ACL user). */
  redisSentinelUsername: string | undefined;
  redisSentinelPassword: string | undefined;
  maxTurns: number;
  /** Conversation TTL in seconds (fractional allowed); undefined = never expire. */
  ttlSeconds: number | undefined;
  keyPrefix: string;
  maxBatch: number;
  maxContentBytes: number;
  maxReceiveBytes: number;
  logLevel: LogLevel;
  redisTimeoutMs: number;
  redisConnections: number;
  shutdownGraceMs: number;
  healthIntervalMs: number;
  /** How long a request_id is remembered after its append, in seconds. */
  requestIdTtlSeconds: number;
  /** Memory for decoded stored elements, keyed by their stored text (never stale); 0 = decode every read. */
  decodeCacheMb: number;
  /** Connections with no call for this long are closed (GOAWAY), idle sockets included. */
  maxConnectionIdleMs: number;
  /** Server certificate chain and key (PEM paths); both set = TLS. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** CA bundle for client certificates (PEM path); set = mTLS, a verified client certificate required. */
  tlsClientCa: string | undefined;
  /** How often certificate files are re-read, so rotated certificates apply without a restart. */
  tlsReloadMs: number;
  /** TLS to Cluster nodes, or to the Sentinels and their primary (REDIS_URL says it with rediss://). */
  redisTls: boolean;
  /** CA bundle to verify Redis's TLS certificates with (PEM path); default: the system's CAs. */
  redisTlsCa: string | undefined;
  auth: AuthMode;
  /** Token digest -> tenant, from the tenants file (auth mode `token`). */
  tenantTokens: ReadonlyMap<string, string> | undefined;
}

/** A day: long enough for any client's retries, short enough to keep companion keys small. */
export const DEFAULT_REQUEST_ID_TTL_SECONDS = 86_400;

/** Enough for ~100k decoded messages of ~150 bytes: the recent windows of a few thousand busy conversations. */
export const DEFAULT_DECODE_CACHE_MB = 32;

/** Exit code for a configuration error (a usage error, as in sysexits' convention for CLIs). */
export const CONFIG_ERROR_EXIT_CODE = 2;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly exitCode: number;
  constructor(message: string, exitCode = CONFIG_ERROR_EXIT_CODE) {
    super(message);
    this.exitCode = exitCode;
  }
}

function integerIn(min: number, max: number) {
  return (raw: string): number => {
    const value = Number(raw.trim());
    if (raw.trim() === "" || !Number.isInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`);
    }
    return value;
  };
}

/** Longest TTL Redis PEXPIRE and Node timers handle comfortably: about 24 days, in seconds. */
const MAX_TTL_SECONDS = 2_000_000;

function positiveSeconds(raw: string): number | undefined {
  if (raw.trim() === "") return undefined;
  const value = Number(raw.trim());
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TTL_SECONDS) {
    throw new InvalidArgumentError(`must be a number of seconds > 0 and <= ${MAX_TTL_SECONDS} (fractions allowed).`);
  }
  return value;
}

function listenAddress(raw: string): string {
  const match = HOST_PORT_PATTERN.exec(raw.trim());
  if (!match || Number(match[2]) > 65535) {
    throw new InvalidArgumentError("must be host:port, e.g. 127.0.0.1:50051, 0.0.0.0:50051 or [::1]:50051.");
  }
  return raw.trim();
}

function optionalListenAddress(raw: string): string | undefined {
  return raw.trim() === "" ? undefined : listenAddress(raw);
}

/** An empty REDIS_URL (common in compose files) means "not set": the embedded store. */
function redisUrl(raw: string): string | undefined {
  if (raw.trim() === "") return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new InvalidArgumentError("must be a URL like redis://host:6379/0 or rediss://host:6380/0.");
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new InvalidArgumentError(`scheme must be redis:// or rediss://, got ${url.protocol}//.`);
  }
  if (!url.hostname) throw new InvalidArgumentError("must name a host, e.g. redis://127.0.0.1:6379/0.");
  const db = url.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) throw new InvalidArgumentError("database must be a number, e.g. /0.");
  return raw.trim();
}

/** An empty variable (common in compose files) means "not set". */
function optionalText(raw: string): string | undefined {
  return raw === "" ? undefined : raw;
}

function hostPorts(raw: string): HostPort[] | undefined {
  if (raw.trim() === "") return undefined;
  try {
    return parseHostPorts(raw);
  } catch (error: unknown) {
    throw new InvalidArgumentError(`${(error as Error).message}, e.g. 10.0.0.1:6379,10.0.0.2:6379.`);
  }
}

function sentinelMasterName(raw: string): string | undefined {
  if (raw.trim() === "") return undefined;
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(raw.trim())) throw new InvalidArgumentError("must be a Sentinel master name like mymaster.");
  return raw.trim();
}

function keyPrefix(raw: string): string {
  // Braces would turn part of the prefix into a Redis Cluster hash tag and break the companion-key rule.
  if (!/^[A-Za-z0-9._:@/-]{1,128}$/.test(raw)) {
    throw new InvalidArgumentError("must be 1..128 characters of letters, digits and . _ : @ / - (no spaces or braces).");
  }
  return raw;
}

/** true/false, 1/0, yes/no, on/off; empty (common in compose files) is false. */
function booleanValue(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (["", "false", "0", "no", "off"].includes(value)) return false;
  if (["true", "1", "yes", "on"].includes(value)) return true;
  throw new InvalidArgumentError("must be true or false.");
}

/** A file path that exists and can be read now (certificates, keys, tenant files). */
function readableFile(raw: string): string | undefined {
  if (raw.trim() === "") return undefined;
  try {
    accessSync(raw, constants.R_OK);
  } catch {
    throw new InvalidArgumentError(`cannot read ${raw}.`);
  }
  return raw;
}

function authMode(raw: string): AuthMode {
  const mode = raw.trim().toLowerCase();
  if (!(AUTH_MODES as readonly string[]).includes(mode)) throw new InvalidArgumentError(`must be one of ${AUTH_MODES.join(", ")}.`);
  return mode as AuthMode;
}

function logLevel(raw: string): LogLevel {
  const level = raw.trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(", ")}.`);
  }
  return level as LogLevel;
}

function option<T>(flags: string, env: string, description: string, parse: (raw: string) => T, fallback?: T): Option {
  const result = new Option(flags, description).env(env).argParser(parse);
  return fallback === undefined ? result : result.default(fallback);
}

function buildCommand(): Command {
  return new Command("chatmemory")
    .description("gRPC service for shared, bounded LLM conversation history")
    .addOption(option("--listen <host:port>", "CHATMEMORY_LISTEN", "address to serve gRPC on", listenAddress, "127.0.0.1:50051"))
    .addOption(option("--metrics-listen <host:port>", "CHATMEMORY_METRICS_LISTEN", "HTTP listener for Prometheus metrics at /metrics; unset = no metrics", optionalListenAddress))
    .addOption(option("--health-listen <host:port>", "CHATMEMORY_HEALTH_LISTEN", "plaintext listener with only grpc.health.v1, for probes when the main port uses TLS; unset = none", optionalListenAddress))
    .addOption(option("--redis-url <url>", "REDIS_URL", "Redis URL; unset = embedded in-process store (not shared, lost on restart)", redisUrl))
    .addOption(option("--redis-cluster-nodes <list>", "REDIS_CLUSTER_NODES", "Redis Cluster seed nodes host:port,host:port (instead of REDIS_URL)", hostPorts))
    .addOption(option("--redis-sentinels <list>", "REDIS_SENTINELS", "Sentinels host:port,host:port (instead of REDIS_URL; with --redis-sentinel-master)", hostPorts))
    .addOption(option("--redis-sentinel-master <name>", "REDIS_SENTINEL_MASTER", "name of the primary the Sentinels monitor", sentinelMasterName))
    .addOption(option("--redis-username <name>", "REDIS_USERNAME", "ACL user for Redis (Cluster nodes, Sentinel's primary, or a REDIS_URL without one)", optionalText))
    .addOption(option("--redis-password <secret>", "REDIS_PASSWORD", "password for Redis (prefer the variable: flags show in ps)", optionalText))
    .addOption(option("--redis-sentinel-username <name>", "REDIS_SENTINEL_USERNAME", "ACL user for the Sentinels", optionalText))
    .addOption(option("--redis-sentinel-password <secret>", "REDIS_SENTINEL_PASSWORD", "password for the Sentinels (prefer the variable)", optionalText))
    .addOption(option("--max-turns <n>", "CHATMEMORY_MAX_TURNS", "turns kept per conversation; the window is max-turns * 2 messages", integerIn(1, 100_000), 10))
    .addOption(option("--ttl-seconds <s>", "CHATMEMORY_TTL_SECONDS", "expire a conversation this long after its last append (fractions allowed); unset = never", positiveSeconds))
    .addOption(option("--key-prefix <prefix>", "CHATMEMORY_KEY_PREFIX", "Redis key prefix (the Python class's default)", keyPrefix, "ractogateway:memory"))
    .addOption(option("--max-batch <n>", "CHATMEMORY_MAX_BATCH", "most messages in one Append", integerIn(1, 1000), 100))
    .addOption(option("--max-content-bytes <n>", "CHATMEMORY_MAX_CONTENT_BYTES", "most UTF-8 bytes in one message's content", integerIn(1, 64 * 1024 * 1024), 1024 * 1024))
    .addOption(option("--max-receive-bytes <n>", "CHATMEMORY_MAX_RECEIVE_BYTES", "largest gRPC request accepted (larger: RESOURCE_EXHAUSTED)", integerIn(1024, 256 * 1024 * 1024), 8 * 1024 * 1024))
    .addOption(option("--log-level <level>", "CHATMEMORY_LOG_LEVEL", `log level: ${LOG_LEVELS.join(", ")}`, logLevel, "info"))
    .addOption(option("--redis-timeout-ms <ms>", "CHATMEMORY_REDIS_TIMEOUT_MS", "every Redis command fails with UNAVAILABLE after this long", integerIn(10, 60_000), 1000))
    .addOption(option("--redis-connections <n>", "CHATMEMORY_REDIS_CONNECTIONS", "Redis connections shared by all requests (commands batched per event-loop turn)", integerIn(1, 64), 1))
    .addOption(option("--shutdown-grace-ms <ms>", "CHATMEMORY_SHUTDOWN_GRACE_MS", "on SIGTERM/SIGINT, how long in-flight calls may take to finish", integerIn(0, 600_000), 10_000))
    .addOption(option("--request-id-ttl-seconds <s>", "CHATMEMORY_REQUEST_ID_TTL_SECONDS", "how long an Append's request_id is remembered for idempotent retries", positiveSeconds, DEFAULT_REQUEST_ID_TTL_SECONDS))
    .addOption(option("--decode-cache-mb <n>", "CHATMEMORY_DECODE_CACHE_MB", "memory for decoded reads: messages by their stored text, and (Redis) each window's last read, matched byte for byte (never stale); 0 = off", integerIn(0, 65_536), DEFAULT_DECODE_CACHE_MB))
    .addOption(option("--max-connection-idle-ms <ms>", "CHATMEMORY_MAX_CONNECTION_IDLE_MS", "close connections (idle sockets included) with no call for this long", integerIn(1000, 86_400_000), 300_000))
    .addOption(option("--tls-cert <path>", "CHATMEMORY_TLS_CERT", "server certificate chain (PEM); with --tls-key: serve TLS", readableFile))
    .addOption(option("--tls-key <path>", "CHATMEMORY_TLS_KEY", "server private key (PEM)", readableFile))
    .addOption(option("--tls-client-ca <path>", "CHATMEMORY_TLS_CLIENT_CA", "CA bundle (PEM) for client certificates: require mTLS", readableFile))
    .addOption(option("--tls-reload-ms <ms>", "CHATMEMORY_TLS_RELOAD_MS", "re-read certificate files this often (rotation without restart)", integerIn(100, 86_400_000), 60_000))
    .addOption(option("--redis-tls <bool>", "REDIS_TLS", "TLS to Cluster nodes, or to the Sentinels and their primary (for REDIS_URL use rediss://)", booleanValue, false))
    .addOption(option("--redis-tls-ca <path>", "CHATMEMORY_REDIS_TLS_CA", "CA bundle (PEM) to verify Redis's TLS certificates; default: system CAs", readableFile))
    .addOption(option("--auth <mode>", "CHATMEMORY_AUTH", `tenant scoping: ${AUTH_MODES.join(", ")} (token: bearer tokens from --tenants-file; mtls: client certificate CN)`, authMode, "none"))
    .addOption(option("--tenants-file <path>", "CHATMEMORY_TENANTS_FILE", 'JSON {"<tenant>": {"token_sha256": ["<hex>"]}} for --auth token', readableFile))
    .addOption(option("--health-interval-ms <ms>", "CHATMEMORY_HEALTH_INTERVAL_MS", "how often the store is pinged for the health service", integerIn(50, 60_000), 500))
    .helpOption("-h, --help", "show this help")
    .allowExcessArguments(false);
}

export interface ParseConfigIO {
  /** Where --help is written. */
  writeOut: (text: string) => void;
}

/**
 * Parses argv (without the node and script entries) and the environment.
 * Throws ConfigError: exitCode 2 with the problem for a bad value, exitCode 0 after --help.
 */
export function parseConfig(argv: readonly string[], io: ParseConfigIO = { writeOut: (text) => process.stdout.write(text) }): Readonly<Config> {
  const command = buildCommand()
    .exitOverride()
    .configureOutput({ writeOut: io.writeOut, writeErr: () => {} });
  try {
    command.parse([...argv], { from: "user" });
  } catch (error: unknown) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.help") throw new ConfigError("", 0);
      throw new ConfigError(`${error.message.replace(/^error: /, "")}`);
    }
    throw error;
  }
  const options = command.opts<Config & { tenantsFile: string | undefined }>();
  const config: Config = {
    listen: options.listen,
    healthListen: options.healthListen,
    metricsListen: options.metricsListen,
    redisUrl: options.redisUrl,
    redisClusterNodes: options.redisClusterNodes,
    redisSentinels: options.redisSentinels,
    redisSentinelMaster: options.redisSentinelMaster,
    redisUsername: options.redisUsername,
    redisPassword: options.redisPassword,
    redisSentinelUsername: options.redisSentinelUsername,
    redisSentinelPassword: options.redisSentinelPassword,
    maxTurns: options.maxTurns,
    ttlSeconds: options.ttlSeconds,
    keyPrefix: options.keyPrefix,
    maxBatch: options.maxBatch,
    maxContentBytes: options.maxContentBytes,
    maxReceiveBytes: options.maxReceiveBytes,
    logLevel: options.logLevel,
    redisTimeoutMs: options.redisTimeoutMs,
    redisConnections: options.redisConnections,
    shutdownGraceMs: options.shutdownGraceMs,
    healthIntervalMs: options.healthIntervalMs,
    // An empty variable parses as unset: fall back to the default rather than "never forget".
    requestIdTtlSeconds: options.requestIdTtlSeconds ?? DEFAULT_REQUEST_ID_TTL_SECONDS,
    decodeCacheMb: options.decodeCacheMb,
    maxConnectionIdleMs: options.maxConnectionIdleMs,
    tlsCert: options.tlsCert,
    tlsKey: options.tlsKey,
    tlsClientCa: options.tlsClientCa,
    tlsReloadMs: options.tlsReloadMs,
    redisTls: options.redisTls,
    redisTlsCa: options.redisTlsCa,
    auth: options.auth,
    tenantTokens: undefined,
  };
  checkRedisSettings(config);
  checkSecuritySettings(config, options.tenantsFile);
  if (config.maxContentBytes > config.maxReceiveBytes) {
    throw new ConfigError(
      `CHATMEMORY_MAX_CONTENT_BYTES (${config.maxContentBytes}) must not exceed CHATMEMORY_MAX_RECEIVE_BYTES (${config.maxReceiveBytes}).`,
    );
  }
  return Object.freeze(config);
}

/** At most one way to reach Redis. */
function checkRedisSettings(config: Config): void {
  const ways = [config.redisUrl, config.redisClusterNodes, config.redisSentinels].filter((way) => way !== undefined);
  if (ways.length > 1) throw new ConfigError("set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS.");
  if ((config.redisSentinels === undefined) !== (config.redisSentinelMaster === undefined)) {
    throw new ConfigError("REDIS_SENTINELS and REDIS_SENTINEL_MASTER must be set together.");
  }
  checkRedisCredentials(config, ways.length > 0);
  if (config.redisTls && config.redisUrl !== undefined) {
    throw new ConfigError("REDIS_TLS is for REDIS_CLUSTER_NODES and REDIS_SENTINELS; for REDIS_URL write rediss://.");
  }
  if (config.redisTls && ways.length === 0) throw new ConfigError("REDIS_TLS is set but no Redis is (REDIS_CLUSTER_NODES or REDIS_SENTINELS).");
  const tlsToRedis = config.redisTls || config.redisUrl?.startsWith("rediss:") === true;
  if (config.redisTlsCa !== undefined && !tlsToRedis) {
    throw new ConfigError("CHATMEMORY_REDIS_TLS_CA is only used with TLS to Redis: a rediss:// REDIS_URL, or REDIS_TLS=true.");
  }
}

/** Credentials only where they are used, and each given once: a silently ignored password is a misconfiguration. */
function checkRedisCredentials(config: Config, redisConfigured: boolean): void {
  if (config.redisUsername !== undefined && config.redisPassword === undefined) {
    throw new ConfigError("REDIS_USERNAME needs REDIS_PASSWORD.");
  }
  if (config.redisSentinelUsername !== undefined && config.redisSentinelPassword === undefined) {
    throw new ConfigError("REDIS_SENTINEL_USERNAME needs REDIS_SENTINEL_PASSWORD.");
  }
  if (config.redisPassword !== undefined && !redisConfigured) {
    throw new ConfigError("REDIS_PASSWORD is set but no Redis is (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS).");
  }
  if (config.redisSentinelPassword !== undefined && config.redisSentinels === undefined) {
    throw new ConfigError("REDIS_SENTINEL_PASSWORD is only used with REDIS_SENTINELS.");
  }
  if (config.redisPassword !== undefined && config.redisUrl !== undefined) {
    const url = new URL(config.redisUrl);
    if (url.username !== "" || url.password !== "") {
      throw new ConfigError("REDIS_URL already carries credentials: drop them from the URL or drop REDIS_USERNAME/REDIS_PASSWORD.");
    }
  }
}

/** TLS and tenant settings that only make sense together; loads the tenants file. */
function checkSecuritySettings(config: Config, tenantsFile: string | undefined): void {
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError("CHATMEMORY_TLS_CERT and CHATMEMORY_TLS_KEY must be set together.");
  }
  if (config.tlsClientCa !== undefined && config.tlsCert === undefined) {
    throw new ConfigError("CHATMEMORY_TLS_CLIENT_CA (mTLS) needs CHATMEMORY_TLS_CERT and CHATMEMORY_TLS_KEY.");
  }
  if (config.auth === "mtls" && config.tlsClientCa === undefined) {
    throw new ConfigError("CHATMEMORY_AUTH=mtls needs CHATMEMORY_TLS_CLIENT_CA (and the server certificate and key).");
  }
  if (config.auth === "token") {
    if (tenantsFile === undefined) throw new ConfigError("CHATMEMORY_AUTH=token needs CHATMEMORY_TENANTS_FILE.");
    try {
      config.tenantTokens = loadTenantTokens(tenantsFile);
    } catch (error: unknown) {
      throw new ConfigError(`CHATMEMORY_TENANTS_FILE: ${(error as Error).message}`);
    }
  } else if (tenantsFile !== undefined) {
    throw new ConfigError("CHATMEMORY_TENANTS_FILE is only used with CHATMEMORY_AUTH=token.");
  }
}

/** PEXPIRE milliseconds for a duration in seconds: rounded, at least 1 (never the Python class's EXPIRE 0). */
export function secondsToPexpireMs(seconds: number): number {
  return Math.max(1, Math.round(seconds * 1000));
}

/** The conversation TTL in PEXPIRE milliseconds; undefined = no expiry. */
export function ttlMilliseconds(ttlSeconds: number | undefined): number | undefined {
  return ttlSeconds === undefined ? undefined : secondsToPexpireMs(ttlSeconds);
}
