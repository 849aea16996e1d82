/**
 * Prometheus metrics with prom-client, named as go-grpc-prometheus and
 * grpc-ecosystem's interceptors name them (grpc_server_handled_total,
 * grpc_server_handling_seconds, ...), so existing gRPC dashboards and alerts
 * work unchanged; plus the store's health and Node's own process metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CallObserver, CallOutcome } from "../grpc/adapter.js";
import { Code } from "../service/errors.js";
import type { WatchCounters } from "../service/watch-hub.js";

type CallLabels = "grpc_type" | "grpc_service" | "grpc_method";

/** Sub-millisecond to seconds: most calls take well under a millisecond on a healthy Redis. */
const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsSources {
  /** True while the health service says SERVING (the store answers). */
  serving: () => boolean;
  /** ChatMemory calls being handled now. */
  inFlight: () => number;
  /** The server's Watch totals (read at scrape time: the server is made after the metrics). */
  watch?: () => WatchCounters;
}

/**
 * One method's series. Counts are kept as plain numbers and handed to prom-client when scraped:
 * its labelled inc() hashes the labels on every call, a cost bench/notes.md shows is worth avoiding
 * on the call path.
 */
interface MethodSeries {
  labels: Record<CallLabels, string>;
  handling: Histogram.Internal<CallLabels>;
  /** Calls started / handled (by code) since the last scrape. */
  started: number;
  handled: Map<Code, number>;
}

export class ServerMetrics implements CallObserver {
  readonly registry = new Registry();
  readonly #handling: Histogram<CallLabels>;
  readonly #series = new Map<string, MethodSeries>();

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const series = this.#series;
    new Counter({
      name: "grpc_server_started_total",
      help: "RPCs started on the server.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method"],
      registers,
      collect() {
        for (const method of series.values()) {
          if (method.started > 0) this.inc(method.labels, method.started);
          method.started = 0;
        }
      },
    });
    new Counter({
      name: "grpc_server_handled_total",
      help: "RPCs completed on the server, by status code.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
      registers,
      collect() {
        for (const method of series.values()) {
          for (const [code, count] of method.handled) {
            if (count > 0) this.inc({ ...method.labels, grpc_code: Code[code] ?? String(code) }, count);
            method.handled.set(code, 0);
          }
        }
      },
    });
    this.#handling = new Histogram({
      name: "grpc_server_handling_seconds",
      help: "Time from the request's arrival in the handler to its answer.",
      labelNames: ["grpc_type", "grpc_service", "grpc_method"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    new Gauge({
      name: "grpc_server_in_flight",
      help: "ChatMemory RPCs being handled now.",
      registers,
      collect() {
        this.set(sources.inFlight());
      },
    });
    new Gauge({
      name: "chatmemory_store_serving",
      help: "1 while the store answers and health says SERVING, else 0.",
      registers,
      collect() {
        this.set(sources.serving() ? 1 : 0);
      },
    });
    this.#watchMetrics(sources.watch, registers);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Watch's own series: open streams, and what was sent (totals kept by the service, handed over as they grow). */
  #watchMetrics(watch: (() => WatchCounters) | undefined, registers: Registry[]): void {
    if (watch === undefined) return;
    new Gauge({
      name: "chatmemory_watch_streams",
      help: "Watch streams open on this server.",
      registers,
      collect() {
        this.set(watch().streams);
      },
    });
    const total = (name: string, help: string, read: (counters: WatchCounters) => number) => {
      let reported = 0;
      new Counter({
        name,
        help,
        registers,
        collect() {
          const now = read(watch());
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
    };
    total("chatmemory_watch_messages_sent_total", "Messages sent to watchers, in new-message and reset responses alike.", (c) => c.messagesSent);
    total("chatmemory_watch_resets_sent_total", "Watch responses sent with reset: true (a rewrite, a stale epoch, a watcher behind the window or its buffer).", (c) => c.resetsSent);
    total(
      "chatmemory_watch_overflows_total",
      "Watchers that fell more than CHATMEMORY_WATCH_BUFFER messages behind and lost their queue for a reset: slow readers, or clients with a small HTTP/2 receive window.",
      (c) => c.overflows,
    );
  }

  /** Counts a call as started. */
  callStarted(method: string): void {
    this.#seriesOf(method).started++;
  }

  /** Counts a finished call by its status and observes its duration. */
  callEnded({ method, code, durationMs }: CallOutcome): void {
    const series = this.#seriesOf(method);
    series.handling.observe(durationMs / 1000);
    series.handled.set(code, (series.handled.get(code) ?? 0) + 1);
  }

  #seriesOf(method: string): MethodSeries {
    let series = this.#series.get(method);
    if (series === undefined) {
      const slash = method.lastIndexOf("/");
      const labels = { grpc_type: "unary", grpc_service: method.slice(0, slash), grpc_method: method.slice(slash + 1) };
      series = { labels, handling: this.#handling.labels(labels), started: 0, handled: new Map() };
      this.#series.set(method, series);
    }
    return series;
  }
}
