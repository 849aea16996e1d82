/**
 * Layers that point one way, checked twice: statically (the import rules in
 * .dependency-cruiser.cjs, type-only imports included) and at run time (what
 * Node actually loads when a caller imports the built client package).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ICruiseResult } from "dependency-cruiser";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const CLIENT_ENTRY = fileURLToPath(new URL("../clients/typescript/dist/clients/typescript/src/index.js", import.meta.url));
const LANGCHAIN_ENTRY = fileURLToPath(new URL("../clients/typescript/dist/clients/typescript/src/langchain/index.js", import.meta.url));
const SERVER_ENTRY = fileURLToPath(new URL("../dist/src/index.js", import.meta.url));

/** Node module hooks see every resolution, ESM and require alike: the packages an import really loads. */
const PROBE = `
import { registerHooks } from "node:module";
const packages = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    const match = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(result.url);
    if (match) packages.add(match[1]);
    return result;
  },
});
await import(process.argv[1]);
console.log(JSON.stringify([...packages].sort()));
`;

async function packagesLoadedBy(entry: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", PROBE, entry], { cwd: root });
  return JSON.parse(stdout) as string[];
}

const MAIN_ENTRY = fileURLToPath(new URL("../dist/src/main.js", import.meta.url));

/** The packages the server process has loaded once it listens (embedded store, a free port), under `env`. */
async function packagesLoadedByServer(env: Record<string, string>): Promise<string[]> {
  // main.js resolves its top-level await once listening; the probe then prints and exits.
  const probe = PROBE.replace("console.log(JSON.stringify([...packages].sort()));", "console.log(JSON.stringify([...packages].sort())); process.exit(0);");
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("OTEL_") && !name.startsWith("CHATMEMORY_") && !name.startsWith("REDIS_")));
  const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", probe, MAIN_ENTRY], {
    cwd: root,
    env: { ...clean, CHATMEMORY_LISTEN: "127.0.0.1:0", CHATMEMORY_LOG_LEVEL: "warn", ...env },
    timeout: 30_000,
  });
  // The last line is the probe's; pino's lines come before it.
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "[]") as string[];
}

const SERVER_LIBRARIES = ["@opentelemetry/api", "@opentelemetry/sdk-node", "ioredis", "pino", "prom-client", "commander", "lru-cache", "grpc-health-check", "@grpc/reflection", "js-tiktoken", "piscina"];

describe("layers", () => {
  it("src/ and the client package keep every import rule of .dependency-cruiser.cjs", async () => {
    // The CLI, as `npm run lint` runs it; it exits non-zero on a violation and still prints the report.
    const cli = fileURLToPath(new URL("../node_modules/dependency-cruiser/bin/dependency-cruiser.mjs", import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [cli, "src", "clients/typescript/src", "--config", ".dependency-cruiser.cjs", "--output-type", "json"],
      { cwd: root, maxBuffer: 64 * 1024 * 1024 },
    ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? "" }));
    const result = JSON.parse(stdout) as ICruiseResult;
    expect(result.summary.violations).toEqual([]);
    // The rules did look at both trees.
    const sources = result.modules.map((module) => module.source);
    expect(sources).toContain("clients/typescript/src/client.ts");
    expect(sources).toContain("src/store/redis-chat-store.ts");
  });

  it("the built client package loads @grpc/grpc-js and @bufbuild/protobuf, and no server library", async () => {
    expect(existsSync(CLIENT_ENTRY), "npm test builds the client package first").toBe(true);
    const loaded = await packagesLoadedBy(CLIENT_ENTRY);
    expect(loaded).toContain("@grpc/grpc-js");
    expect(loaded).toContain("@bufbuild/protobuf");
    for (const library of SERVER_LIBRARIES) expect(loaded).not.toContain(library);
    // LangChain is an optional peer of the `./langchain` subpath only.
    expect(loaded).not.toContain("@langchain/core");
  });

  it("the built `./langchain` subpath loads @langchain/core (so the check above can fail), and no server library", async () => {
    const loaded = await packagesLoadedBy(LANGCHAIN_ENTRY);
    expect(loaded).toContain("@langchain/core");
    for (const library of SERVER_LIBRARIES) expect(loaded).not.toContain(library);
  });

  it("the same probe sees the server's libraries when the server is imported (so the check above can fail)", async () => {
    const loaded = await packagesLoadedBy(SERVER_ENTRY);
    expect(loaded).toEqual(expect.arrayContaining(["ioredis", "lru-cache", "grpc-health-check"]));
  });

  it("a server started without OTEL_* variables loads no OpenTelemetry SDK; with an OTLP endpoint it does", async () => {
    // prom-client loads @opentelemetry/api itself when installed (for exemplars): the API alone is
    // a no-op facade; without an SDK package no tracer provider can be registered.
    const sdkPackages = (loaded: string[]) => loaded.filter((name) => name.startsWith("@opentelemetry/") && name !== "@opentelemetry/api");
    const off = await packagesLoadedByServer({});
    expect(off).toContain("@grpc/grpc-js");
    expect(sdkPackages(off)).toEqual([]);
    // OTEL_SDK_DISABLED wins over an endpoint, as the SDK's own rule says.
    const disabled = await packagesLoadedByServer({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" });
    expect(sdkPackages(disabled)).toEqual([]);
    const on = await packagesLoadedByServer({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" });
    expect(on).toEqual(expect.arrayContaining(["@opentelemetry/api", "@opentelemetry/sdk-node", "@opentelemetry/exporter-trace-otlp-proto"]));
  });
});
