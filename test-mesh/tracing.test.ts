/**
 * OpenTelemetry tracing (src/tracing, docs/tracing.md): the server, in this process with the SDK
 * writing to an InMemorySpanExporter, answers the Go client (clients/go/traced-call) that sends a
 * W3C traceparent; the server's spans must continue that trace, carry the RPC and database
 * semantic conventions, and hold one child span per Redis command; also through nginx. Needs Go
 * (the module proxy for clients/go's modules), redis-server and nginx.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { context, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { createChatMemoryClient } from "../clients/typescript/src/index.js";
import { RedisServerProcess } from "../test/helpers/redis-server.js";
import { startServerProcess } from "../test/helpers/server-process.js";
import { startTestServer, statusOf, type TestServer, uniqueId, waitFor } from "../test/helpers/test-server.js";
import { startTracing, type Tracing } from "../src/tracing/start-tracing.js";
import { startNginx } from "./nginx-process.js";

const GO_MODULE = fileURLToPath(new URL("../clients/go", import.meta.url));
const run = promisify(execFile);

let redis: RedisServerProcess;
let tracing: Tracing;
let server: TestServer;
let workDir: string;
let tracedCall: string;
const exporter = new InMemorySpanExporter();

/** A fresh W3C trace context as a caller would send it: version 00, sampled. */
function newTraceparent(): { traceId: string; spanId: string; header: string } {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return { traceId, spanId, header: `00-${traceId}-${spanId}-01` };
}

/** Runs the Go client: an Append, then a GetHistory, on `conversationId`, with `traceparent` when given. */
async function goCall(conversationId: string, traceparent?: string, address = server.address): Promise<string> {
  const env = { ...process.env, CHATMEMORY_ADDRESS: address, TRACEPARENT: traceparent ?? "" };
  const { stdout } = await run(tracedCall, [conversationId], { env, timeout: 20_000 });
  return stdout;
}

function spansOfTrace(traceId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

function serverSpan(spans: ReadableSpan[], method: string): ReadableSpan {
  const found = spans.filter((span) => span.kind === SpanKind.SERVER && span.name === `chatmemory.v1.ChatMemory/${method}`);
  expect(found, `one server span for ${method}`).toHaveLength(1);
  return found[0] as ReadableSpan;
}

function childrenOf(spans: ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans.filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId);
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "chatmemory-tracing-"));
  tracedCall = join(workDir, "traced-call");
  // Built once: clients/go's modules come from the Go module proxy (cached after the first run).
  const build = run("go", ["build", "-o", tracedCall, "./traced-call"], {
    cwd: GO_MODULE,
    env: { ...process.env, GOFLAGS: "-buildvcs=false", GOTOOLCHAIN: "local" },
    timeout: 240_000,
  });
  redis = await RedisServerProcess.start();
  tracing = startTracing({ spanProcessors: [new SimpleSpanProcessor({ exporter })], redisUrl: redis.url });
  server = await startTestServer({ store: "redis", redisUrl: redis.url, tracer: tracing.callTracer, redisCommandHook: tracing.redisCommands });
  await build;
}, 300_000);

afterAll(async () => {
  await server?.close();
  await tracing?.shutdown();
  await redis?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

beforeEach(() => exporter.reset());

describe("tracing", () => {
  it("continues the Go caller's traceparent: server spans under its span, a child span per Redis command", async () => {
    const caller = newTraceparent();
    const output = await goCall(uniqueId("traced"), caller.header);
    expect(output).toContain("appended 2, read 2");

    const spans = spansOfTrace(caller.traceId);
    const append = serverSpan(spans, "Append");
    const read = serverSpan(spans, "GetHistory");
    for (const span of [append, read]) {
      expect(span.parentSpanContext?.spanId).toBe(caller.spanId);
      expect(span.parentSpanContext?.isRemote).toBe(true);
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes).toMatchObject({
        "rpc.system.name": "grpc",
        "rpc.method": span.name,
        "rpc.status_code": "OK",
        "server.address": "127.0.0.1",
        "server.port": Number(server.address.split(":")[1]),
        "network.peer.address": "127.0.0.1",
      });
      expect(span.attributes["network.peer.port"]).toEqual(expect.any(Number));
    }

    const [write] = childrenOf(spans, append);
    expect(childrenOf(spans, append)).toHaveLength(1);
    expect(write?.kind).toBe(SpanKind.CLIENT);
    expect(write?.name).toBe("EVALSHA chatmemoryWrite");
    expect(write?.attributes).toEqual({
      "db.system.name": "redis",
      "db.operation.name": "EVALSHA",
      "db.stored_procedure.name": "chatmemoryWrite",
      "db.namespace": "0",
      "server.address": "127.0.0.1",
      "server.port": redis.port,
    });
    // The Redis span lies within its call's span.
    expect(write!.startTime[0] * 1e9 + write!.startTime[1]).toBeGreaterThanOrEqual(append.startTime[0] * 1e9 + append.startTime[1]);
    const readChildren = childrenOf(spans, read);
    expect(readChildren.map((span) => span.name)).toEqual(["EVALSHA chatmemoryRead"]);
    // Nothing else landed in the caller's trace.
    expect(spans).toHaveLength(4);
  });

  it("keeps the caller's trace through nginx (deploy/nginx/chatmemory.conf passes traceparent on)", async () => {
    const nginx = await startNginx([server.address]);
    try {
      const caller = newTraceparent();
      expect(await goCall(uniqueId("traced-nginx"), caller.header, nginx.address)).toContain("appended 2, read 2");
      const spans = spansOfTrace(caller.traceId);
      for (const method of ["Append", "GetHistory"]) expect(serverSpan(spans, method).parentSpanContext?.spanId).toBe(caller.spanId);
      expect(spans).toHaveLength(4);
    } finally {
      await nginx.stop();
      nginx.remove();
    }
  });

  it("starts a new trace for a call without traceparent, and health-check PINGs make no spans", async () => {
    await goCall(uniqueId("untraced"));
    // Health checks ran meanwhile (every 100 ms) and made no span.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const spans = exporter.getFinishedSpans();
    const servers = spans.filter((span) => span.kind === SpanKind.SERVER);
    expect(servers.map((span) => span.name).sort()).toEqual(["chatmemory.v1.ChatMemory/Append", "chatmemory.v1.ChatMemory/GetHistory"]);
    for (const span of servers) expect(span.parentSpanContext).toBeUndefined();
    expect(spans.filter((span) => span.name === "PING")).toEqual([]);
    expect(spans).toHaveLength(4);
  });

  it("records the status of a rejected call; a caller's mistake is not a server error", async () => {
    const { code } = await statusOf(server.client.append({ conversationId: "", messages: [{ role: "user", content: "no id" }] }));
    expect(code).toBe(3);
    await waitFor(() => exporter.getFinishedSpans().length > 0, 2000);
    const [span, ...others] = exporter.getFinishedSpans();
    expect(others).toEqual([]);
    expect(span?.attributes["rpc.status_code"]).toBe("INVALID_ARGUMENT");
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it("the built server, given OTEL_EXPORTER_OTLP_ENDPOINT, exports the caller's trace over OTLP/HTTP (flushed on SIGTERM)", async () => {
    // An OTLP/HTTP receiver: keeps what arrives, answers as a collector does (200, empty response).
    const received: { path: string; contentType: string; body: Buffer }[] = [];
    const receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        received.push({ path: request.url ?? "", contentType: request.headers["content-type"] ?? "", body: Buffer.concat(chunks) });
        response.writeHead(200, { "content-type": "application/x-protobuf" }).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const { port } = receiver.address() as { port: number };
    try {
      const child = await startServerProcess({
        REDIS_URL: redis.url,
        CHATMEMORY_LISTEN: "127.0.0.1:0",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_SERVICE_NAME: "chatmemory-tracing-test",
      });
      const caller = newTraceparent();
      const client = createChatMemoryClient({ address: child.address });
      try {
        const metadata = new grpc.Metadata();
        metadata.set("traceparent", caller.header);
        await client.append({ conversationId: uniqueId("process"), messages: [{ role: "user", content: "exported?" }] }, { metadata });
      } finally {
        client.close();
      }
      expect(child.logs.some((line) => line.tracing === "opentelemetry")).toBe(true);
      // The batch processor would wait up to 5 s; SIGTERM's drain exports what is queued.
      await child.stop();
      const traces = received.filter((request) => request.path === "/v1/traces");
      expect(traces.length).toBeGreaterThan(0);
      for (const request of traces) expect(request.contentType).toBe("application/x-protobuf");
      // OTLP protobuf carries ids as raw bytes and names as UTF-8: look for them in what arrived.
      const body = Buffer.concat(traces.map((request) => request.body));
      expect(body.includes(Buffer.from(caller.traceId, "hex"))).toBe(true);
      expect(body.includes(Buffer.from(caller.spanId, "hex"))).toBe(true);
      for (const text of ["chatmemory-tracing-test", "chatmemory.v1.ChatMemory/Append", "EVALSHA chatmemoryWrite"]) expect(body.includes(text), text).toBe(true);
      // Traces only: no metrics or logs were sent to the collector.
      expect(received.map((request) => request.path).filter((path) => path !== "/v1/traces")).toEqual([]);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  it("makes no Redis span under a call span that has ended (work left running in an old call's context)", async () => {
    const ended = trace.getTracer("test").startSpan("ended call");
    ended.end();
    const command = { operation: "EVALSHA", script: "chatmemoryRead" };
    expect(await context.with(trace.setSpan(context.active(), ended), () => tracing.redisCommands.around(command, async () => "read"))).toBe("read");
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(["ended call"]);
  });

  it("marks the call and its Redis span as errors when Redis is down (UNAVAILABLE)", async () => {
    await redis.kill();
    try {
      const { code } = await statusOf(server.client.append({ conversationId: uniqueId("down"), messages: [{ role: "user", content: "lost?" }] }));
      expect(code).toBe(14);
      await waitFor(() => exporter.getFinishedSpans().some((span) => span.kind === SpanKind.SERVER), 2000);
      const spans = exporter.getFinishedSpans();
      const call = spans.find((span) => span.kind === SpanKind.SERVER);
      expect(call?.attributes["rpc.status_code"]).toBe("UNAVAILABLE");
      expect(call?.attributes["error.type"]).toBe("UNAVAILABLE");
      expect(call?.status.code).toBe(SpanStatusCode.ERROR);
      const command = spans.find((span) => span.kind === SpanKind.CLIENT);
      expect(command?.parentSpanContext?.spanId).toBe(call?.spanContext().spanId);
      expect(command?.status.code).toBe(SpanStatusCode.ERROR);
      expect(command?.attributes["error.type"]).toEqual(expect.any(String));
    } finally {
      await redis.start();
    }
  });
});
