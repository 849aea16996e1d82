/**
 * Configuration from environment variables and the same-named flags
 * (`CHATMEMORY_MAX_TURNS` <-> `--max-turns`; a flag wins over its variable),
 * parsed and validated once into a frozen object. The settings themselves are
 * declared in src/settings.ts; this file applies them and checks the ones that
 * only make sense together.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { loadTenantTokens } from "./auth/tenants.js";
import { type Setting, type SettingValues, SETTINGS } from "./settings.js";

export interface Config extends SettingValues {
  /** Token digest -> tenant, from the tenants file (auth mode `token`). */
  tenantTokens: ReadonlyMap<string, string> | undefined;
  /** OpenTelemetry tracing is asked for by the SDK's own OTEL_* variables (tracingRequested). */
  tracing: boolean;
}

/**
 * Tracing is on when the OpenTelemetry variables ask for an exporter: an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or OTEL_TRACES_EXPORTER
 * other than `none`, and OTEL_SDK_DISABLED is not `true`. Otherwise no OpenTelemetry module is
 * even loaded. The SDK reads the rest of its variables itself (docs/tracing.md).
 */
export function tracingRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  const set = (name: string) => (env[name] ?? "").trim() !== "";
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "").split(",").map((name) => name.trim()).filter((name) => name !== "");
  if (exporters.includes("none")) return false;
  return set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || exporters.length > 0;
}

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

type AnySetting = Setting<unknown, unknown>;
const SETTING_ENTRIES = Object.entries(SETTINGS) as [keyof SettingValues, AnySetting][];

/** The one "empty = unset" rule: a blank value (common in compose files) leaves the setting at its default. */
function isBlank(raw: string): boolean {
  return raw.trim() === "";
}

function parseValue(entry: AnySetting, raw: string): unknown {
  return entry.type.parse(entry.type.verbatim ? raw : raw.trim());
}

/** Flags only: the variables are applied after parsing, from the environment given to parseConfig. */
function buildCommand(): Command {
  const command = new Command("chatmemory")
    .description("gRPC service for shared, bounded LLM conversation history")
    .helpOption("-h, --help", "show this help")
    .allowExcessArguments(false);
  for (const [, entry] of SETTING_ENTRIES) {
    const option = new Option(entry.flag, `${entry.help} (env: ${entry.env})`).argParser((raw: string) => {
      if (isBlank(raw)) return undefined;
      try {
        return parseValue(entry, raw);
      } catch (error: unknown) {
        throw new InvalidArgumentError(`${(error as Error).message}.`);
      }
    });
    command.addOption(entry.default === undefined ? option : option.default(entry.default));
  }
  return command;
}

export interface ParseConfigOptions {
  /** The environment variables to read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Where --help is written; default stdout. */
  writeOut?: (text: string) => void;
}

/**
 * Parses argv (without the node and script entries) and the environment.
 * Throws ConfigError: exitCode 2 with the problem for a bad value, exitCode 0 after --help.
 */
export function parseConfig(argv: readonly string[], options: ParseConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const command = buildCommand()
    .exitOverride()
    .configureOutput({ writeOut: options.writeOut ?? ((text) => process.stdout.write(text)), writeErr: () => {} });
  try {
    command.parse([...argv], { from: "user" });
  } catch (error: unknown) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.help") throw new ConfigError("", 0);
      throw new ConfigError(error.message.replace(/^error: /, ""));
    }
    throw error;
  }
  const flags = command.opts<Record<string, unknown>>();
  const values: Record<string, unknown> = {};
  for (const [key, entry] of SETTING_ENTRIES) {
    // A blank flag value comes back as "" (commander's stand-in when the parser returns nothing): unset.
    let value = flags[key] === "" ? undefined : flags[key];
    const raw = env[entry.env];
    if (command.getOptionValueSource(key) !== "cli" && raw !== undefined && !isBlank(raw)) {
      try {
        value = parseValue(entry, raw);
      } catch (error: unknown) {
        throw new ConfigError(`${entry.env}=${JSON.stringify(raw)} is invalid: ${(error as Error).message}.`);
      }
    }
    values[key] = value ?? entry.default;
  }
  const config = { ...(values as SettingValues), tenantTokens: undefined, tracing: tracingRequested(env) } as Config;
  checkRedisSettings(config);
  checkSecuritySettings(config);
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
function checkSecuritySettings(config: Config): void {
  const { tenantsFile } = config;
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
