/**
 * Prometheus metrics (CHATMEMORY_METRICS_LISTEN): gRPC call counts and latencies under the names
 * gRPC dashboards expect, the store's health, Node's process metrics; scraped over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MetricsEndpoint, serveMetrics } from "../src/metrics/metrics-endpoint.js";
import { ServerMetrics } from "../src/metrics/server-metrics.js";
import { freePort } from "./helpers/redis-server.js";
import { startServerProcess } from "./helpers/server-process.js";
import { type TestServer, startTestServer, statusOf, uniqueId, waitFor } from "./helpers/test-server.js";

/** The value of one sample in Prometheus text format; undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

const call = (method: string) => ({ grpc_type: "unary", grpc_service: "chatmemory.v1.ChatMemory", grpc_method: method });

describe("metrics of an in-process server", () => {
  let server: TestServer;
  let endpoint: MetricsEndpoint;
  beforeAll(async () => {
    let serving = () => false;
    const metrics = new ServerMetrics({ serving: () => serving(), inFlight: () => server.server.activeCalls, watch: () => server.server.watchCounters });
    server = await startTestServer({ store: "memory", metrics });
    serving = () => server.server.health.status === "SERVING";
    endpoint = await serveMetrics(metrics.registry, "127.0.0.1:0");
  });
  afterAll(async () => {
    await endpoint.close();
    await server.close();
  });

  const scrape = async () => {
    const response = await fetch(`http://127.0.0.1:${endpoint.port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  it("counts calls by method and status code, and times them", async () => {
    const id = uniqueId();
    for (let i = 0; i < 3; i++) await server.client.append({ conversationId: id, messages: [{ role: "user", content: `m${i}` }] });
    await statusOf(server.client.append({ conversationId: "bad id", messages: [{ role: "user", content: "x" }] }));
    await server.client.getHistory({ conversationId: id });

    const text = await scrape();
    expect(sample(text, "grpc_server_started_total", call("Append"))).toBe(4);
    expect(sample(text, "grpc_server_handled_total", { ...call("Append"), grpc_code: "OK" })).toBe(3);
    expect(sample(text, "grpc_server_handled_total", { ...call("Append"), grpc_code: "INVALID_ARGUMENT" })).toBe(1);
    expect(sample(text, "grpc_server_handled_total", { ...call("GetHistory"), grpc_code: "OK" })).toBe(1);
    expect(sample(text, "grpc_server_handling_seconds_count", call("Append"))).toBe(4);
    const sum = sample(text, "grpc_server_handling_seconds_sum", call("Append")) ?? -1;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(5);
    // Buckets are cumulative: everything is at most +Inf.
    expect(sample(text, "grpc_server_handling_seconds_bucket", { ...call("Append"), le: "+Inf" })).toBe(4);
    expect(sample(text, "grpc_server_in_flight")).toBe(0);

    // Counts move into prom-client at each scrape: they keep adding up across scrapes.
    await server.client.append({ conversationId: id, messages: [{ role: "user", content: "one more" }] });
    const again = await scrape();
    expect(sample(again, "grpc_server_handled_total", { ...call("Append"), grpc_code: "OK" })).toBe(4);
    expect(sample(again, "grpc_server_handled_total", { ...call("Append"), grpc_code: "INVALID_ARGUMENT" })).toBe(1);
    expect(sample(again, "grpc_server_started_total", call("Append"))).toBe(5);
  });

  it("counts Watch streams and the messages and resets sent on them", async () => {
    const id = uniqueId();
    const before = await scrape();
    const sentBefore = sample(before, "chatmemory_watch_messages_sent_total") ?? Number.NaN;
    const resetsBefore = sample(before, "chatmemory_watch_resets_sent_total") ?? Number.NaN;
    expect(sample(before, "chatmemory_watch_streams")).toBe(0);
    expect(sample(before, "chatmemory_watch_overflows_total")).toBe(0);

    const stop = new AbortController();
    const responses = server.client.watchStream({ conversationId: id }, { signal: stop.signal })[Symbol.asyncIterator]();
    expect((await responses.next()).value?.messages).toEqual([]);
    const open = await scrape();
    expect(sample(open, "chatmemory_watch_streams")).toBe(1);
    expect(sample(open, "grpc_server_in_flight")).toBe(1);
    for (let i = 0; i < 3; i++) await server.client.append({ conversationId: id, messages: [{ role: "user", content: `m${i}` }] });
    for (let i = 0; i < 3; i++) expect((await responses.next()).value?.messages).toHaveLength(1);
    await server.client.replace({ conversationId: id, messages: [{ role: "system", content: "summary" }, { role: "user", content: "m2" }] });
    const reset = (await responses.next()).value;
    expect(reset?.reset).toBe(true);
    expect(reset?.messages).toHaveLength(2);

    const text = await scrape();
    expect((sample(text, "chatmemory_watch_messages_sent_total") ?? Number.NaN) - sentBefore).toBe(3 + 2);
    expect((sample(text, "chatmemory_watch_resets_sent_total") ?? Number.NaN) - resetsBefore).toBe(1);
    expect(sample(text, "chatmemory_watch_overflows_total")).toBe(0);
    stop.abort();
    await responses.return(undefined);
    await waitFor(async () => sample(await scrape(), "chatmemory_watch_streams") === 0, 5000);
  });

  it("reports the store's health and Node's process metrics", async () => {
    await waitFor(async () => server.server.health.status === "SERVING", 5000);
    const text = await scrape();
    expect(sample(text, "chatmemory_store_serving")).toBe(1);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(sample(text, "nodejs_eventloop_lag_p99_seconds")).toBeGreaterThanOrEqual(0);
  });

  it("serves only GET /metrics", async () => {
    expect((await fetch(`http://127.0.0.1:${endpoint.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${endpoint.port}/metrics`, { method: "POST" })).status).toBe(404);
  });
});

describe("CHATMEMORY_METRICS_LISTEN on the server process", () => {
  it("serves /metrics on that port and shows a store that does not answer as 0", async () => {
    const metricsPort = await freePort();
    const server = await startServerProcess({
      CHATMEMORY_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
      // Nothing listens there: health and the gauge say the store is down.
      REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`,
    });
    try {
      const startup = server.logs.find((entry) => String(entry.msg).startsWith("chatmemory listening"));
      expect(startup).toMatchObject({ metricsAddress: `127.0.0.1:${metricsPort}` });
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(sample(text, "chatmemory_store_serving")).toBe(0);
      expect(sample(text, "process_cpu_seconds_total")).toBeGreaterThan(0);
      expect(sample(text, "chatmemory_watch_streams")).toBe(0);
      expect(sample(text, "chatmemory_watch_overflows_total")).toBe(0);
    } finally {
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    }
  });
});
