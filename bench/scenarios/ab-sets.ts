/**
 * The scenario sets bench/ab.ts interleaves (AB_SET). Each scenario names, for variant A and
 * for variant B, the server and the pre-encoded request: two builds on the same request, or
 * (one-build sets) the same server on two requests.
 *
 * - `builds` (default): two builds; Append (200 × "x") and GetHistory(40) at c=64, Append at c=1.
 * - `issue12-append`: two builds; Append of a ~200 B prose chat message (CHAT_MESSAGE) at c=64
 *   and at c=1: "Append with seq and token counting >= 0.9 × Append before them".
 * - `tracing`: one build, two servers: A without OpenTelemetry, B exporting every span over
 *   OTLP/HTTP to a local sink that accepts and discards (bench/lib/otlp-sink.ts), the SDK's
 *   defaults otherwise (AB_TRACING_RATIO=0.1: B keeps that share of traces,
 *   parentbased_traceidratio); Append of CHAT_MESSAGE at c=64 and c=1 ("cost when on: reported").
 * - `issue12-history`: one build; a 40-message conversation of that message, A = GetHistory
 *   limit 40, B = limit 40 + max_tokens set to the newest AB_KEEP_MESSAGES' (default 30) token
 *   counts, so the budget cuts: "GetHistory(40) with max_tokens >= 0.9 × without".
 *
 * Each variant of a two-build set writes to its own conversation: the builds may store
 * differently (issue 12 added seqs, token counts and a meta key), and both share one Redis.
 */
import type { ServerProcess } from "../../test/helpers/server-process.js";
import { CHAT_MESSAGE } from "../../test/helpers/token-texts.js";
import type { Bench, Target } from "../lib/bench.js";
import type { RpcKind } from "../lib/results.js";
import { log } from "../lib/settings.js";
import { startOtlpSink } from "../lib/otlp-sink.js";
import { appendTarget, historyTarget } from "./targets.js";

export type Variant = "A" | "B";

export interface AbScenario {
  name: string;
  rpc: RpcKind;
  concurrency: number;
  window?: number;
  /** The figure compared: rps (higher is better) or p50Ms (lower is better). */
  metric: "rps" | "p50Ms";
  target: Record<Variant, Target>;
}

/** What a set needs besides the servers (a collector, ...): each variant's extra server environment. */
export interface AbSetup {
  env: Record<Variant, Record<string, string>>;
  /** A line for the log at the end (what the helper saw). */
  report(): string;
  close(): Promise<void>;
}

export interface AbSet {
  /** One server (scriptA) measured on two requests, instead of two builds on one request. */
  oneBuild: boolean;
  /** One script given, run as two servers (with `setup`'s environments), instead of two builds. */
  oneScript?: boolean;
  setup?: () => Promise<AbSetup>;
  /** What A and B are, for the log and the JSON. */
  describe: (scriptA: string, scriptB: string) => Record<Variant, string>;
  scenarios: (bench: Bench, servers: Record<Variant, ServerProcess>) => Promise<AbScenario[]>;
}

/** A's then B's (one at a time: each probes Redis's command counters). */
async function both<T>(make: (variant: Variant) => Promise<T>): Promise<Record<Variant, T>> {
  const A = await make("A");
  const B = await make("B");
  return { A, B };
}

export const AB_SETS: Record<string, AbSet> = {
  builds: {
    oneBuild: false,
    describe: (a, b) => ({ A: a, B: b }),
    scenarios: async (bench, servers) => {
      const append = await both((v) => appendTarget(bench, servers[v], "redis", { id: `bench-append-redis-${v}` }));
      const history = await both((v) => historyTarget(bench, servers[v], "redis", 40, { id: `bench-history-40-${v}` }));
      return [
        { name: "Append c=64 rps", rpc: "append", concurrency: 64, metric: "rps", target: append },
        { name: "GetHistory(40) c=64 rps", rpc: "history", concurrency: 64, window: 40, metric: "rps", target: history },
        { name: "Append c=1 p50 ms", rpc: "append", concurrency: 1, metric: "p50Ms", target: append },
      ];
    },
  },
  "issue12-append": {
    oneBuild: false,
    describe: (a, b) => ({ A: a, B: b }),
    scenarios: async (bench, servers) => {
      const append = await both((v) => appendTarget(bench, servers[v], "redis", { id: `bench-append-prose-${v}`, content: CHAT_MESSAGE }));
      log(`Append: ${Buffer.byteLength(CHAT_MESSAGE)} B of prose; verified by redis ${append.A.redisCommand} (A), ${append.B.redisCommand} (B)`);
      return [
        { name: "Append (prose) c=64 rps", rpc: "append", concurrency: 64, metric: "rps", target: append },
        { name: "Append (prose) c=1 p50 ms", rpc: "append", concurrency: 1, metric: "p50Ms", target: append },
      ];
    },
  },
  tracing: {
    oneBuild: false,
    oneScript: true,
    describe: (script) => ({
      A: `${script}, tracing off`,
      B: `${script}, OpenTelemetry on (OTLP/HTTP to a discarding sink), ${tracingRatio() ?? "every trace"} sampled`,
    }),
    setup: async () => {
      const sink = await startOtlpSink();
      const ratio = tracingRatio();
      const sampler: Record<string, string> = ratio === undefined ? {} : { OTEL_TRACES_SAMPLER: "parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG: String(ratio) };
      return {
        env: { A: {}, B: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_SERVICE_NAME: "chatmemory-bench", ...sampler } },
        report: () => `OTLP sink: ${sink.requests} exports, ${sink.bytes} bytes received from B`,
        close: () => sink.close(),
      };
    },
    scenarios: async (bench, servers) => {
      const append = await both((v) => appendTarget(bench, servers[v], "redis", { id: `bench-append-tracing-${v}`, content: CHAT_MESSAGE }));
      return [
        { name: "Append (prose) c=64 rps", rpc: "append", concurrency: 64, metric: "rps", target: append },
        { name: "Append (prose) c=1 p50 ms", rpc: "append", concurrency: 1, metric: "p50Ms", target: append },
      ];
    },
  },
  "issue12-history": {
    oneBuild: true,
    describe: () => ({ A: "GetHistory limit 40", B: `GetHistory limit 40 + max_tokens (newest ${keepMessages()} fit)` }),
    scenarios: async (bench, servers) => {
      const id = "bench-history-tokens-40";
      const plain = await historyTarget(bench, servers.A, "redis", 40, { id, content: CHAT_MESSAGE, query: { limit: 40 } });
      const { response } = await bench.historyResponse(servers.A.address, id, { limit: 40 });
      const keep = keepMessages();
      const newest = response.messages.slice(-keep);
      const maxTokens = newest.reduce((sum, message) => sum + message.tokenCount, 0);
      if (response.messages.length !== 40 || newest.some((message) => message.tokenCount <= 0)) {
        throw new Error(`expected 40 messages with token counts, got ${response.messages.length} (is this a build with token counting?)`);
      }
      const budget = await historyTarget(bench, servers.A, "redis", 40, { id, filled: true, query: { limit: 40, maxTokens } });
      if (budget.messages !== keep) throw new Error(`max_tokens ${maxTokens} kept ${budget.messages} messages, expected ${keep}`);
      log(`GetHistory: 40 messages of ${newest[0]?.tokenCount} tokens; max_tokens ${maxTokens} keeps ${budget.messages}; responses ${plain.responseBytes} B and ${budget.responseBytes} B`);
      return [{ name: `GetHistory(40) vs +max_tokens (keeps ${keep}) c=64 rps`, rpc: "history", concurrency: 64, window: 40, metric: "rps", target: { A: plain, B: budget } }];
    },
  },
};

/** AB_TRACING_RATIO: the share of traces B samples (0..1); unset = all. */
function tracingRatio(): number | undefined {
  const raw = process.env.AB_TRACING_RATIO;
  if (raw === undefined || raw === "") return undefined;
  const ratio = Number(raw);
  if (!(ratio >= 0 && ratio <= 1)) throw new Error(`AB_TRACING_RATIO must be 0..1, got ${raw}`);
  return ratio;
}

function keepMessages(): number {
  const keep = Number(process.env.AB_KEEP_MESSAGES ?? 30);
  if (!Number.isInteger(keep) || keep < 1 || keep >= 40) throw new Error(`AB_KEEP_MESSAGES must be 1..39, got ${process.env.AB_KEEP_MESSAGES}`);
  return keep;
}
