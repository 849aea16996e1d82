/**
 * Configuration parsing, in-process: every rule, the one "empty = unset" rule
 * for every setting, flags over variables, and the generated docs table.
 * (test/process.test.ts covers what only a process shows: exit codes, --help.)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { tokenDigest } from "../src/auth/tenants.js";
import { ConfigError, parseConfig, tracingRequested } from "../src/config.js";
import { SETTINGS, settingsMarkdownTable } from "../src/settings.js";

const parse = (env: Record<string, string>, argv: string[] = []) => parseConfig(argv, { env, writeOut: () => {} });

/** The ConfigError a parse throws (fails the test when it does not throw one). */
function parseError(env: Record<string, string>, argv: string[] = []): ConfigError {
  try {
    parse(env, argv);
  } catch (error: unknown) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

const readable = fileURLToPath(import.meta.url);

describe("parseConfig", () => {
  it("gives every setting its declared default", () => {
    const config = parse({});
    for (const [key, entry] of Object.entries(SETTINGS)) expect(config[key as keyof typeof SETTINGS], key).toEqual(entry.default);
    expect(config).toMatchObject({ listen: "127.0.0.1:50051", maxTurns: 10, keyPrefix: "ractogateway:memory", redisUrl: undefined });
  });

  it("treats an empty or blank variable as unset, for every setting", () => {
    const defaults = parse({});
    for (const entry of Object.values(SETTINGS)) {
      expect(parse({ [entry.env]: "" }), entry.env).toEqual(defaults);
      expect(parse({ [entry.env]: "  " }), entry.env).toEqual(defaults);
    }
  });

  it("treats an empty flag value as unset, for every setting", () => {
    const defaults = parse({});
    for (const entry of Object.values(SETTINGS)) {
      const flag = entry.flag.split(" ")[0] as string;
      expect(parse({}, [flag, ""]), flag).toEqual(defaults);
    }
  });

  it("reads variables, and a flag wins over its variable", () => {
    expect(parse({ CHATMEMORY_MAX_TURNS: "7", CHATMEMORY_TTL_SECONDS: "0.5" })).toMatchObject({ maxTurns: 7, ttlSeconds: 0.5 });
    // The variable alone is invalid; the flag replaces it.
    expect(parse({ CHATMEMORY_MAX_TURNS: "0" }, ["--max-turns", "5"]).maxTurns).toBe(5);
    expect(parse({ CHATMEMORY_LOG_LEVEL: "debug" }, ["--log-level", "warn"]).logLevel).toBe("warn");
  });

  it("parses lists, booleans and addresses", () => {
    const config = parse({ REDIS_CLUSTER_NODES: " 10.0.0.1:7000, [::1]:7001 ", REDIS_TLS: "yes", CHATMEMORY_LISTEN: "[::1]:0" });
    expect(config.redisClusterNodes).toEqual([
      { host: "10.0.0.1", port: 7000 },
      { host: "::1", port: 7001 },
    ]);
    expect(config.redisTls).toBe(true);
    expect(config.listen).toBe("[::1]:0");
  });

  it("keeps a password as written, spaces included", () => {
    expect(parse({ REDIS_URL: "redis://127.0.0.1:6379/0", REDIS_PASSWORD: " two words " }).redisPassword).toBe(" two words ");
  });

  it("loads the tenants file for token auth", () => {
    const file = join(tmpdir(), `tenants-${process.pid}.json`);
    writeFileSync(file, JSON.stringify({ acme: { token_sha256: [tokenDigest("secret")] } }));
    const config = parse({ CHATMEMORY_AUTH: "token", CHATMEMORY_TENANTS_FILE: file });
    expect(config.tenantTokens?.get(tokenDigest("secret"))).toBe("acme");
  });

  it("is frozen", () => {
    expect(Object.isFrozen(parse({}))).toBe(true);
  });

  const badValues: [string, Record<string, string>, string[], RegExp][] = [
    ["max turns 0", { CHATMEMORY_MAX_TURNS: "0" }, [], /CHATMEMORY_MAX_TURNS.*1 to 100000/],
    ["max turns not a number", { CHATMEMORY_MAX_TURNS: "ten" }, [], /CHATMEMORY_MAX_TURNS/],
    ["negative TTL", { CHATMEMORY_TTL_SECONDS: "-1" }, [], /CHATMEMORY_TTL_SECONDS/],
    ["zero TTL", { CHATMEMORY_TTL_SECONDS: "0" }, [], /CHATMEMORY_TTL_SECONDS/],
    ["a non-Redis URL", { REDIS_URL: "http://127.0.0.1:6379" }, [], /REDIS_URL.*redis:\/\//s],
    ["a malformed URL", { REDIS_URL: "not a url" }, [], /REDIS_URL/],
    ["a bad listen address", { CHATMEMORY_LISTEN: "localhost" }, [], /CHATMEMORY_LISTEN/],
    ["a listen port over 65535", { CHATMEMORY_LISTEN: "127.0.0.1:70000" }, [], /CHATMEMORY_LISTEN/],
    ["a bad log level", { CHATMEMORY_LOG_LEVEL: "loud" }, [], /CHATMEMORY_LOG_LEVEL/],
    ["a prefix with braces", { CHATMEMORY_KEY_PREFIX: "{x}" }, [], /CHATMEMORY_KEY_PREFIX/],
    ["max batch over 1000", { CHATMEMORY_MAX_BATCH: "5000" }, [], /CHATMEMORY_MAX_BATCH/],
    ["a bad flag value", {}, ["--max-turns", "-3"], /--max-turns/],
    ["an unknown flag", {}, ["--max-turn", "3"], /--max-turn/],
    ["an unreadable file", { CHATMEMORY_TLS_CERT: "/nonexistent/cert.pem", CHATMEMORY_TLS_KEY: readable }, [], /CHATMEMORY_TLS_CERT.*cannot read/],
    ["two ways to reach Redis", { REDIS_URL: "redis://127.0.0.1:6379/0", REDIS_CLUSTER_NODES: "127.0.0.1:7000" }, [], /only one of REDIS_URL/],
    ["sentinels without a master name", { REDIS_SENTINELS: "127.0.0.1:26379" }, [], /REDIS_SENTINEL_MASTER/],
    ["a bad cluster node", { REDIS_CLUSTER_NODES: "127.0.0.1" }, [], /REDIS_CLUSTER_NODES/],
    ["a cluster node with port 0", { REDIS_CLUSTER_NODES: "127.0.0.1:0" }, [], /REDIS_CLUSTER_NODES/],
    ["a Redis user without a password", { REDIS_URL: "redis://127.0.0.1:6379/0", REDIS_USERNAME: "app" }, [], /REDIS_USERNAME needs REDIS_PASSWORD/],
    ["a Redis password without a Redis", { REDIS_PASSWORD: "secret" }, [], /REDIS_PASSWORD is set but no Redis/],
    ["credentials in both REDIS_URL and REDIS_PASSWORD", { REDIS_URL: "redis://app:one@127.0.0.1:6379/0", REDIS_PASSWORD: "two" }, [], /REDIS_URL already carries credentials/],
    ["a Sentinel password without Sentinels", { REDIS_URL: "redis://127.0.0.1:6379/0", REDIS_SENTINEL_PASSWORD: "secret" }, [], /REDIS_SENTINEL_PASSWORD is only used with REDIS_SENTINELS/],
    ["a Sentinel user without a password", { REDIS_SENTINELS: "127.0.0.1:26379", REDIS_SENTINEL_MASTER: "m", REDIS_SENTINEL_USERNAME: "watcher" }, [], /REDIS_SENTINEL_USERNAME needs REDIS_SENTINEL_PASSWORD/],
    ["REDIS_TLS with a REDIS_URL", { REDIS_URL: "redis://127.0.0.1:6379/0", REDIS_TLS: "true" }, [], /for REDIS_URL write rediss:\/\//],
    ["REDIS_TLS without a Redis", { REDIS_TLS: "true" }, [], /REDIS_TLS is set but no Redis/],
    ["REDIS_TLS that is not true or false", { REDIS_CLUSTER_NODES: "127.0.0.1:7000", REDIS_TLS: "maybe" }, [], /REDIS_TLS/],
    ["a Redis TLS CA without TLS to Redis", { REDIS_URL: "redis://127.0.0.1:6379/0", CHATMEMORY_REDIS_TLS_CA: readable }, [], /CHATMEMORY_REDIS_TLS_CA is only used with TLS/],
    ["a TLS certificate without its key", { CHATMEMORY_TLS_CERT: readable }, [], /CHATMEMORY_TLS_CERT and CHATMEMORY_TLS_KEY must be set together/],
    ["mTLS auth without a client CA", { CHATMEMORY_AUTH: "mtls" }, [], /CHATMEMORY_AUTH=mtls needs CHATMEMORY_TLS_CLIENT_CA/],
    ["token auth without a tenants file", { CHATMEMORY_AUTH: "token" }, [], /CHATMEMORY_AUTH=token needs CHATMEMORY_TENANTS_FILE/],
    ["a tenants file without token auth", { CHATMEMORY_TENANTS_FILE: readable }, [], /CHATMEMORY_TENANTS_FILE is only used with CHATMEMORY_AUTH=token/],
    ["a tenants file that is not JSON", { CHATMEMORY_AUTH: "token", CHATMEMORY_TENANTS_FILE: readable }, [], /CHATMEMORY_TENANTS_FILE/],
    ["content limit above the receive limit", { CHATMEMORY_MAX_CONTENT_BYTES: "9000000" }, [], /CHATMEMORY_MAX_CONTENT_BYTES/],
  ];
  it.each(badValues)("rejects %s with exit code 2 and a message naming it", (_label, env, args, pattern) => {
    const error = parseError(env, args);
    expect(error.exitCode).toBe(2);
    expect(error.message).toMatch(pattern);
  });

  it("answers --help with exit code 0 and every setting's variable and flag", () => {
    let help = "";
    try {
      parseConfig(["--help"], { env: {}, writeOut: (text) => (help += text) });
      throw new Error("expected --help to end parsing");
    } catch (error: unknown) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).exitCode).toBe(0);
    }
    for (const entry of Object.values(SETTINGS)) {
      expect(help).toContain(entry.env);
      expect(help).toContain(entry.flag.split(" ")[0]);
    }
  });
});

describe("tracingRequested (OpenTelemetry on or off, from the SDK's own variables)", () => {
  it("is off without an OTLP endpoint or a traces exporter", () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: "chatmemory", OTEL_EXPORTER_OTLP_ENDPOINT: " " })).toBe(false);
    expect(parseConfig([], { env: {} }).tracing).toBe(false);
  });

  it("is on with either endpoint variable, or a traces exporter other than none", () => {
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: "console" })).toBe(true);
    expect(parseConfig([], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" } }).tracing).toBe(true);
  });

  it("stays off when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none, whatever the endpoint", () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };
    expect(tracingRequested({ ...endpoint, OTEL_SDK_DISABLED: "true" })).toBe(false);
    expect(tracingRequested({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toBe(false);
    expect(tracingRequested({ ...endpoint, OTEL_SDK_DISABLED: "false" })).toBe(true);
    expect(tracingRequested({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toBe(false);
  });
});

describe("docs/configuration.md", () => {
  it("holds the table generated from the settings (npm run docs:settings rewrites it)", () => {
    const doc = readFileSync(new URL("../docs/configuration.md", import.meta.url), "utf8");
    const table = /<!-- settings:begin -->\n([\s\S]*?)\n<!-- settings:end -->/.exec(doc)?.[1];
    expect(table).toBe(settingsMarkdownTable());
  });
});
