/**
 * BENCHMARKS.md from one run's results: machine and versions, the targets
 * with their ratios, every table, the plot, and the hand-written notes
 * (bench/notes.md: profiles and what was tried), so a rerun refreshes the
 * numbers without losing the analysis.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, relative } from "node:path";
import { rpcLabel } from "./plot.js";
import type { BenchResults, RoundScenario, RpcMeasurement, StoreKind, ThroughputRound, WatchLatency } from "./results.js";
import { median, round } from "./stats.js";

export interface TargetCheck {
  target: string;
  measured: string;
  ratio: number;
  required: string;
  met: boolean;
}

const RPC_ORDER: RpcMeasurement["rpc"][] = ["ceiling", "append", "history", "history-uncached"];

const fmt = (value: number | null | undefined, digits = 0) =>
  value === null || value === undefined || !Number.isFinite(value) ? "–" : value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function finder(results: BenchResults) {
  return (store: StoreKind, rpc: RpcMeasurement["rpc"], concurrency: number, window?: number) =>
    results.rpcs.find((m) => m.store === store && m.rpc === rpc && m.concurrency === concurrency && m.window === window);
}

/** Server CPU per call beyond the smallest window, per KB of response: flat means linear in bytes. */
export function historyLinearity(results: BenchResults, store: StoreKind, concurrency: number) {
  const points = results.rpcs
    .filter((m) => m.store === store && m.rpc === "history" && m.concurrency === concurrency)
    .sort((a, b) => (a.window ?? 0) - (b.window ?? 0));
  const base = points[0];
  return points.map((m) => ({
    window: m.window ?? 0,
    bytes: m.responseFrameBytes,
    cpuUs: m.serverCpuUsPerRpc,
    usPerKiBOverBase:
      base && m !== base ? round(((m.serverCpuUsPerRpc - base.serverCpuUsPerRpc) * 1024) / (m.responseFrameBytes - base.responseFrameBytes), 2) : undefined,
  }));
}

function roundsTable(results: BenchResults): string {
  const rounds = results.throughputRounds ?? [];
  if (rounds.length === 0) return "(not measured in this run)";
  return [
    "| round | ceiling calls/s (µs) | Append calls/s (µs) | GetHistory(40) calls/s (µs) | bare grpc-js: ceiling calls/s (µs) | bare grpc-js: GetHistory(40)'s bytes calls/s (µs) | verified |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rounds.map((r, index) => {
      const cell = (scenario: RoundScenario) => `${fmt(r.rps[scenario])} (${fmt(r.cpuUs[scenario], 1)})`;
      return `| ${index + 1} | ${cell("ceiling")} | ${cell("append")} | ${cell("history")} | ${cell("bareCeiling")} | ${cell("fixedResponse")} | ${r.verified ? "✓" : "✗"} |`;
    }),
    "",
    "µs = the server's CPU per call.",
  ].join("\n");
}

export function targetChecks(results: BenchResults): TargetCheck[] {
  const find = finder(results);
  const top = Math.max(...results.settings.concurrencies);
  const checks: TargetCheck[] = [];
  for (const store of ["redis", "memory"] as const) {
    const ceiling = find(store, "ceiling", top);
    const append = find(store, "append", top);
    const history = find(store, "history", top, 40);
    if (ceiling && append) {
      const ratio = append.rps / ceiling.rps;
      checks.push({ target: `Append c=${top} ÷ ceiling c=${top} (${store})`, measured: `${fmt(append.rps)} ÷ ${fmt(ceiling.rps)}/s`, ratio, required: "≥ 0.95", met: ratio >= 0.95 });
    }
    if (ceiling && history) {
      const ratio = history.rps / ceiling.rps;
      checks.push({ target: `GetHistory(40) c=${top} ÷ ceiling c=${top} (${store})`, measured: `${fmt(history.rps)} ÷ ${fmt(ceiling.rps)}/s`, ratio, required: "≥ 0.80", met: ratio >= 0.8 });
    }
  }
  const rounds = (results.throughputRounds ?? []).filter((r) => r.verified);
  if (rounds.length > 0) {
    const label = `median of ${rounds.length} back-to-back rounds at c=${rounds[0]?.concurrency} (redis)`;
    // The server's one thread is what saturates, so calls/s ≈ 1 ÷ its CPU per call: the same ratio, less noisy.
    const speeds: [string, (r: ThroughputRound, scenario: RoundScenario) => number][] = [
      ["calls/s", (r, scenario) => r.rps[scenario]],
      ["server CPU per call (ceiling µs ÷ its µs)", (r, scenario) => 1 / r.cpuUs[scenario]],
    ];
    for (const [measure, speed] of speeds) {
      const ratios = (scenario: RoundScenario, ceiling: RoundScenario = "ceiling") => rounds.map((r) => speed(r, scenario) / speed(r, ceiling));
      const list = (values: number[]) => values.map((value) => fmt(value, 2)).join(", ");
      const append = ratios("append");
      const history = ratios("history");
      const bare = ratios("fixedResponse", "bareCeiling");
      checks.push({ target: `Append ÷ ceiling by ${measure}, ${label}`, measured: list(append), ratio: median(append), required: "≥ 0.95", met: median(append) >= 0.95 });
      checks.push({
        target: `GetHistory(40) ÷ ceiling by ${measure}, ${label}; for reference, bare grpc-js returning the same bytes with no work ÷ its own ceiling`,
        measured: `${list(history)}; bare grpc-js ${list(bare)} (median ${fmt(median(bare), 2)})`,
        ratio: median(history),
        required: "≥ 0.80",
        met: median(history) >= 0.8,
      });
    }
  }
  const append1 = find("redis", "append", 1);
  const ceiling1 = find("redis", "ceiling", 1);
  const direct1 = results.baselines.find((b) => b.name.startsWith("ioredis") && b.concurrency === 1);
  if (append1 && ceiling1 && direct1?.p50Ms) {
    const bound = ceiling1.p50Ms + direct1.p50Ms;
    const ratio = append1.p50Ms / bound;
    checks.push({
      target: "Append c=1 p50 ÷ (ceiling p50 + direct ioredis p50) (redis)",
      measured: `${fmt(append1.p50Ms, 3)} ÷ (${fmt(ceiling1.p50Ms, 3)} + ${fmt(direct1.p50Ms, 3)}) ms`,
      ratio,
      required: "≤ 1.5",
      met: ratio <= 1.5,
    });
  }
  const triplets = (results.latencyTriplets ?? []).filter((t) => t.verified);
  if (triplets.length > 0) {
    const ratios = triplets.map((t) => t.appendP50Ms / (t.ceilingP50Ms + t.directP50Ms));
    const ratio = median(ratios);
    checks.push({
      target: `Same, median of ${triplets.length} back-to-back rounds (ceiling, ioredis, Append at c=1, ${results.settings.baselineS / 2} s each)`,
      measured: ratios.map((r) => fmt(r, 2)).join(", "),
      ratio,
      required: "≤ 1.5",
      met: ratio <= 1.5,
    });
  }
  const appendTop = find("redis", "append", top);
  const pythonPerCall = results.baselines.filter((b) => b.name.includes("per-call client: append"));
  if (appendTop && pythonPerCall.length > 0) {
    const best = Math.max(...pythonPerCall.map((b) => b.rps));
    const ratio = appendTop.rps / best;
    checks.push({ target: `Append c=${top} ÷ Python class, client per call (best of its runs)`, measured: `${fmt(appendTop.rps)} ÷ ${fmt(best)}/s`, ratio, required: "≥ 5", met: ratio >= 5 });
  }
  for (const store of ["redis", "memory"] as const) {
    const concurrency = results.settings.concurrencies.includes(16) ? 16 : (results.settings.concurrencies[0] ?? 16);
    const line = historyLinearity(results, store, concurrency).filter((p) => p.usPerKiBOverBase !== undefined);
    const largest = line.at(-1);
    // The median, not the minimum, of the smaller windows: each point is one short run on a shared machine.
    const typical = median(line.slice(0, -1).map((p) => p.usPerKiBOverBase ?? Number.NaN));
    if (largest?.usPerKiBOverBase !== undefined && Number.isFinite(typical)) {
      // Super-linear growth would show as a larger per-KiB cost for the largest window than for smaller ones.
      const ratio = largest.usPerKiBOverBase / typical;
      checks.push({
        target: `GetHistory cost per KiB, window ${largest.window} ÷ median of the smaller windows (${store}, c=${concurrency})`,
        measured: `${fmt(largest.usPerKiBOverBase, 2)} ÷ ${fmt(typical, 2)} µs/KiB`,
        ratio,
        required: "≤ 1.25 (linear)",
        met: ratio <= 1.25,
      });
    }
  }
  const watch = results.watch;
  for (const run of watch?.fanout ?? []) {
    if (run.ratePerS !== 1000 || run.watchers === 0) continue;
    checks.push({
      target: `Watch: ${run.name}, Appends at ${fmt(run.ratePerS)}/s: p99 of receive − Append acknowledged (every message received once, in order)`,
      measured: `p50 ${fmt(run.fromAck.p50Ms, 1)}, p99 ${fmt(run.fromAck.p99Ms, 1)} ms; ${fmt(run.received)} of ${fmt(run.expected)} messages${run.verified ? "" : " (not all exact: see Watch)"}; loadavg ${fmt(run.loadavgBefore[0], 1)} on ${results.environment.cores} cores`,
      ratio: run.fromAck.p99Ms,
      required: "≤ 10 ms",
      met: run.verified && run.fromAck.p99Ms <= 10,
    });
  }
  if (watch && watch.idleAppend.pairs.length > 0) {
    const pairs = watch.idleAppend.pairs;
    checks.push({
      target: `Append c=${watch.idleAppend.concurrency} with ${watch.idleAppend.watchers} idle watchers ÷ without, median of ${pairs.length} interleaved pairs (redis)`,
      measured: `${pairs.map((p) => fmt(p.ratio, 2)).join(", ")}; by server CPU per call, median ${fmt(watch.idleAppend.medianCpuRatio, 2)}`,
      ratio: watch.idleAppend.medianRatio,
      required: "≥ 0.90",
      met: pairs.every((p) => p.verified) && watch.idleAppend.medianRatio >= 0.9,
    });
  }
  if (results.soak.length >= 2) {
    // Flat: the second half of the soak against the first, by medians (single slices are noisy here).
    const half = Math.floor(results.soak.length / 2);
    const early = results.soak.slice(0, half);
    const late = results.soak.slice(-half);
    const ratioOf = (pick: (slice: (typeof results.soak)[number]) => number) => median(late.map(pick)) / median(early.map(pick));
    const rss = ratioOf((slice) => slice.rssMiB);
    const appendP99 = ratioOf((slice) => slice.appendP99Ms);
    const historyP99 = ratioOf((slice) => slice.historyP99Ms);
    checks.push({
      target: "Soak: server RSS, second half ÷ first half (medians)",
      measured: `${fmt(median(late.map((slice) => slice.rssMiB)), 1)} ÷ ${fmt(median(early.map((slice) => slice.rssMiB)), 1)} MiB`,
      ratio: rss,
      required: "≤ 1.10 (flat)",
      met: rss <= 1.1,
    });
    checks.push({
      target: "Soak: p99, second half ÷ first half (medians), the larger of Append and GetHistory(40)",
      measured: `Append ${fmt(appendP99, 2)}, GetHistory(40) ${fmt(historyP99, 2)}`,
      ratio: Math.max(appendP99, historyP99),
      required: "≤ 1.50 (flat)",
      met: Math.max(appendP99, historyP99) <= 1.5,
    });
  }
  return checks;
}

function rpcTable(results: BenchResults, store: StoreKind): string {
  const find = finder(results);
  const rows = results.rpcs
    .filter((m) => m.store === store)
    .sort((a, b) => a.concurrency - b.concurrency || RPC_ORDER.indexOf(a.rpc) - RPC_ORDER.indexOf(b.rpc) || (a.window ?? 0) - (b.window ?? 0))
    .map((m) => {
      const ceiling = find(store, "ceiling", m.concurrency);
      const ratio = ceiling ? m.rps / ceiling.rps : Number.NaN;
      return `| ${rpcLabel(m)} | ${m.concurrency} (${m.connections}×${m.streams}) | ${fmt(m.rps)} | ${fmt(ratio, 2)} | ${fmt(m.p50Ms, 3)} | ${fmt(m.p99Ms, 3)} | ${fmt(m.serverCpuUsPerRpc, 1)} | ${store === "redis" ? fmt(m.redisCpuUsPerRpc, 1) : "–"} | ${fmt(m.generatorCpuUsPerRpc, 1)} | ${fmt(m.serverRssMiB, 0)} | ${fmt(m.responseFrameBytes)} | ${m.verified ? "✓" : `✗ ${m.verification}`} |`;
    });
  return [
    "| RPC | c (conn×streams) | calls/s | × ceiling | p50 ms | p99 ms | server CPU µs/call | Redis CPU µs/call | h2load CPU µs/call | server RSS MiB | response B | verified |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
  ].join("\n");
}

function baselineTable(results: BenchResults): string {
  return [
    "| baseline | c | calls/s | p50 ms | p99 ms | generator CPU µs/call | server CPU µs/call | Redis CPU µs/call | verified |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ...results.baselines.map(
      (b) =>
        `| ${b.name} | ${b.concurrency} | ${fmt(b.rps)} | ${fmt(b.p50Ms, 3)} | ${fmt(b.p99Ms, 3)} | ${fmt(b.generatorCpuUsPerCall, 1)} | ${fmt(b.serverCpuUsPerCall, 1)} | ${fmt(b.redisCpuUsPerCall, 1)} | ${b.verified ? "✓" : "✗"} ${b.verification} |`,
    ),
  ].join("\n");
}

function ghzTable(results: BenchResults): string {
  return [
    "| RPC (Redis store) | c (connections) | calls | calls/s | p50 ms | p99 ms | status codes | verified |",
    "|---|---|---:|---:|---:|---:|---|---|",
    ...results.ghz.map(
      (g) =>
        `| ${g.name} | ${g.concurrency} (${g.connections}) | ${fmt(g.count)} | ${fmt(g.rps)} | ${fmt(g.p50Ms, 3)} | ${fmt(g.p99Ms, 3)} | ${Object.entries(g.statusCodes).map(([code, n]) => `${code} ${n}`).join(", ")} | ${g.verified ? "✓" : "✗"} |`,
    ),
  ].join("\n");
}

function linearityTable(results: BenchResults): string {
  const concurrency = results.settings.concurrencies.includes(16) ? 16 : (results.settings.concurrencies[0] ?? 16);
  const lines = ["| store | window (messages) | response bytes | server CPU µs/call | µs per extra KiB over the smallest window |", "|---|---:|---:|---:|---:|"];
  for (const store of ["redis", "memory"] as const) {
    for (const p of historyLinearity(results, store, concurrency)) {
      lines.push(`| ${store} | ${p.window} | ${fmt(p.bytes)} | ${fmt(p.cpuUs, 1)} | ${fmt(p.usPerKiBOverBase, 2)} |`);
    }
  }
  return `GetHistory at c=${concurrency}, server CPU per call against response size:\n\n${lines.join("\n")}`;
}

function soakSection(results: BenchResults): string {
  if (results.soak.length === 0) return "Not run (BENCH_SOAK_S=0 or BENCH_PARTS without soak).";
  const first = results.soak[0];
  const last = results.soak.at(-1);
  const rows = results.soak.map(
    (s) => `| ${fmt(s.atS)} | ${fmt(s.appendRps)} | ${fmt(s.appendP99Ms, 3)} | ${fmt(s.historyRps)} | ${fmt(s.historyP99Ms, 3)} | ${fmt(s.rssMiB, 1)} | ${s.verified ? "✓" : "✗"} |`,
  );
  const summary =
    first && last
      ? `RSS ${results.soakStartRssMiB === undefined ? "" : `${fmt(results.soakStartRssMiB, 1)} before, `}${fmt(first.rssMiB, 1)} → ${fmt(last.rssMiB, 1)} MiB; Append p99 ${fmt(first.appendP99Ms, 3)} → ${fmt(last.appendP99Ms, 3)} ms; GetHistory(40) p99 ${fmt(first.historyP99Ms, 3)} → ${fmt(last.historyP99Ms, 3)} ms (first → last slice).`
      : "";
  return [
    `Redis store, c=16 (4×4), ${results.settings.soakS} s: each slice runs Append then GetHistory(40) for about ${results.settings.soakSliceS / 2} s each (h2load, every call verified), then samples the server's RSS.`,
    "",
    summary,
    "",
    "| t (s) | Append calls/s | Append p99 ms | GetHistory(40) calls/s | GetHistory(40) p99 ms | server RSS MiB | verified |",
    "|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
  ].join("\n");
}

const latencyCell = (l: WatchLatency) => `${fmt(l.p50Ms, 1)} / ${fmt(l.p99Ms, 1)} / ${fmt(l.maxMs, 1)}`;

function watchSection(results: BenchResults): string {
  const watch = results.watch;
  if (!watch) return "Not run (BENCH_PARTS without watch).";
  const load = (values: number[]) => values.map((v) => fmt(v, 1)).join(" ");
  const fanout = [
    "| run | Appends/s asked (achieved) × s | messages received / expected | per watcher | gaps, dups, resets, stream errors | receive − ack ms p50 / p99 / max | received before the ack | receive − send ms p50 / p99 / max | Append round trip ms p50 / p99 | Redis script calls per Append | last message after the last ack s | server CPU % of a core (µs per Append; per message delivered) | watcher processes CPU % | waiting for a CPU, % of the run: server, writer, watcher processes | loadavg before → after | verified |",
    "|---|---|---:|---|---|---|---:|---|---|---:|---:|---|---:|---|---|---|",
    ...watch.fanout.map(
      (r) =>
        `| ${r.name} | ${fmt(r.ratePerS)} (${fmt(r.achievedRatePerS)}) × ${fmt(r.seconds, 1)} | ${fmt(r.received)} / ${fmt(r.expected)} | ${r.perWatcherMin === r.perWatcherMax ? fmt(r.perWatcherMin) : `${fmt(r.perWatcherMin)}–${fmt(r.perWatcherMax)}`} | ${r.gaps}, ${r.duplicates}, ${r.resets}, ${r.streamErrors} | ${latencyCell(r.fromAck)} | ${fmt(r.fromAck.negative)} | ${latencyCell(r.fromSent)} | ${fmt(r.appendRoundTrip.p50Ms, 1)} / ${fmt(r.appendRoundTrip.p99Ms, 1)} | ${fmt(r.redisScriptCallsPerAppend, 2)} | ${fmt(r.deliveredAfterLastAckS, 1)} | ${fmt(r.serverCpuPercent)} (${fmt(r.serverCpuUsPerAppend, 0)}; ${fmt(r.serverCpuUsPerDelivery, 1)}) | ${fmt(r.watcherCpuPercent)} | ${r.runQueueWaitPercent ? `${r.runQueueWaitPercent.server}, ${r.runQueueWaitPercent.writer}, ${r.runQueueWaitPercent.watchers.join("/") || "–"}` : "–"} | ${load(r.loadavgBefore)} → ${load(r.loadavgAfter)} | ${r.verified ? "✓" : "✗"} |`,
    ),
  ];
  const memory = [
    "| idle watchers (one conversation each) | server RSS MiB before → after | KiB per watcher | KiB per watcher added in this step | V8 heap used MiB before → after (noisy: no GC is forced) | loadavg |",
    "|---:|---|---:|---:|---|---|",
    ...watch.memory.map(
      (m) => `| ${fmt(m.watchers)} | ${fmt(m.rssBeforeMiB, 1)} → ${fmt(m.rssAfterMiB, 1)} | ${fmt(m.kibPerWatcher, 1)} | ${fmt(m.marginalKibPerWatcher, 1)} | ${fmt(m.heapBeforeMiB, 1)} → ${fmt(m.heapAfterMiB, 1)} | ${load(m.loadavg)} |`,
    ),
  ];
  const idle = watch.idleAppend;
  const pairs = [
    `| pair (order) | Append c=${idle.concurrency} calls/s without watchers (server µs/call) | with ${idle.watchers} idle watchers (server µs/call) | with ÷ without | loadavg | verified |`,
    "|---|---:|---:|---:|---|---|",
    ...idle.pairs.map((p) => `| ${p.pair} (${p.order}) | ${fmt(p.withoutRps)} (${fmt(p.cpuUsWithout, 1)}) | ${fmt(p.withRps)} (${fmt(p.cpuUsWith, 1)}) | ${fmt(p.ratio, 2)} | ${load(p.loadavg)} | ${p.verified ? "✓" : "✗"} |`),
  ];
  return [
    `Measured ${watch.date.slice(0, 16).replace("T", " ")} UTC${watch.date.slice(0, 16) === results.environment.date.slice(0, 16) ? "" : " (its own run, not the one that made the tables above)"} (Redis store; method in bench/scenarios/watch.ts and the notes' "Watch" section). Watchers are ${watch.settings.via === "client" ? "TypeScript-client streams" : "raw HTTP/2 gRPC streams (only each message's seq is read from the bytes)"} in ${watch.settings.processes} forked processes, granting the server ${watch.settings.windowBytes === undefined ? "HTTP/2's 64 KiB" : `${Number(watch.settings.windowBytes) / 1024} KiB`} of HTTP/2 receive window per connection and stream; a third process appends one 200-byte message per call at a fixed rate (open loop, ${watch.settings.via === "client" ? "through the TypeScript client" : "pre-encoded requests over raw HTTP/2"}), round-robin over the conversations. Latency is a message's receive time minus the time its Append's answer reached the writer (same machine clock); "receive − send" counts from when the Append was sent.`,
    "",
    ...fanout,
    "",
    ...memory,
    "",
    ...(idle.pairs.length ? [...pairs, "", `Median of the pair ratios ${fmt(idle.medianRatio, 2)}; ratio of the medians ${fmt(idle.ratioOfMedians, 2)}; by server CPU per call (without ÷ with), median ${fmt(idle.medianCpuRatio, 2)}.`] : ["Append with idle watchers: not run."]),
  ].join("\n");
}

export interface ReportOptions {
  out: string;
  plotPath: string | undefined;
  notesPath: string;
}

/** Writes the report; returns the targets table for the console. */
export function writeReport(results: BenchResults, options: ReportOptions): string {
  const { environment: env, settings } = results;
  const checks = targetChecks(results);
  const targetsTable = [
    "| target | measured | ratio | required | met |",
    "|---|---|---:|---|---|",
    ...checks.map((c) => `| ${c.target} | ${c.measured} | ${fmt(c.ratio, 2)} | ${c.required} | ${c.met ? "yes" : "**no**"} |`),
  ].join("\n");
  const memory = results.memory;
  const notes = existsSync(options.notesPath) ? readFileSync(options.notesPath, "utf8").trim() : "";
  const plot = options.plotPath ? `![Throughput and p99 versus concurrency](${relative(dirname(options.out), options.plotPath)})` : "(no plot: gnuplot missing or nothing to plot)";
  const markdown = `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.ts) from bench/results/results.json; the notes at the end come from bench/notes.md. -->

How fast ChatMemory is against its ceiling (the same grpc-js server answering a trivial health check)
and its alternatives (the Append script straight from ioredis, the Python class it replaces), all
measured in one run on one machine over loopback. Absolute numbers on a shared 2-core machine are
noisy; the ratios, measured minutes apart in the same run, are what to compare.

## Reproduce

\`\`\`sh
npm ci && ${settings.command}
\`\`\`

\`bench/setup-tools.sh\` (run by the script) installs h2load and gnuplot from Debian, ghz from the Go
module proxy and a Python venv with \`redis\` under \`bench/.venv\` when they are missing. The run starts
its own \`redis-server\` on a free loopback port and each server under test as its own process
(\`dist/src/main.js\`, \`CHATMEMORY_MAX_TURNS=${500}\`, default log level \`info\`). Shorter runs:
\`BENCH_DURATION_S=2 BENCH_WARMUP_S=1 BENCH_BASELINE_S=2 BENCH_SOAK_S=20 BENCH_SOAK_SLICE_S=10 npm run bench\`
(all knobs are listed at the top of bench/run.ts).

This run: ${settings.durationS} s measured per scenario after a ${settings.warmupS} s warm-up, ${settings.baselineS} s per baseline, ${settings.soakS} s soak.

## Machine and versions

- ${env.cores} cores (${env.cpuModel}), ${env.memoryGiB} GiB, Linux ${env.kernel}; shared with other engineers' test runs.
- ${Object.entries(env.versions).map(([name, version]) => `${name} ${version}`).join(", ")}.
- Run at ${env.date}.

## Method

- **Load generator**: h2load (C, one thread) sends a pre-encoded gRPC frame (\`content-type: application/grpc\`,
  \`te: trailers\`) built with the generated protobuf-es schemas. Each scenario warms up for ${settings.warmupS} s, then sends
  exactly n calls, n = warm-up rate × ${settings.durationS} s. A grpc-js load generator would saturate first on 2 cores and hide the
  server's cost (see the Node client rows below).
- **Concurrency c** = calls in flight = HTTP/2 connections × streams per connection: c=1 is 1×1, larger c is 4
  connections (four caller replicas) × c/4 streams. The ceiling and every RPC use the same shape.
- **Ceiling**: \`grpc.health.v1.Health/Check\` on the same server process: the most any unary RPC on it can do.
- **Append**: one 200-byte message to a conversation already at its window (1000 messages), so each call pushes one
  and trims one. **GetHistory(N)**: the whole window of a conversation holding N such messages.
- **Every call is verified**: h2load only sees HTTP 200, so the run also checks that the DATA received is exactly
  n × the expected response frame (grpc-js answers a failed unary call with trailers only, no DATA) and, for the
  Redis store, that Redis ran the RPC's command (EVALSHA for Append, LRANGE for GetHistory) exactly n times with
  no failures. ghz, which reads grpc-status itself, cross-checks c=${Math.max(...settings.concurrencies)}.
- **Cost per call**: CPU time (utime + stime from /proc, all threads) of the server, of Redis and of h2load over the
  measured calls, divided by n. RSS is the server's VmRSS after the scenario.
- **GetHistory and the read caches**: each GetHistory scenario re-reads one unchanged window, so its main rows are
  warm: on Redis the window cache finds the same bytes as the last read and reuses its decoded messages and
  encoded response (as when many replicas or agent steps read a conversation between two turns; a window moved by
  a turn decodes only the new messages, measured in-process in the notes). The "decode cache off" rows come from a
  second server with \`CHATMEMORY_DECODE_CACHE_MB=0\` over the same Redis data: every element parsed and encoded on
  every call.
- **Back-to-back rounds**: the main table's rows are minutes apart, and the neighbours' load moves in between, so
  at c=${Math.max(...settings.concurrencies)} three rounds of ceiling, Append, GetHistory(40) and a bare grpc-js server
  (\`bench/fixed-response-server.ts\`: the product's server options, the same health service, and one method that
  answers with GetHistory(40)'s exact bytes and does nothing else) run seconds apart; the targets take medians.

## Targets

${targetsTable}

## Back-to-back rounds at the top concurrency (Redis store)

${roundsTable(results)}

## Plot

${plot}

## ChatMemory with the Redis store

${rpcTable(results, "redis")}

## ChatMemory with the embedded store

${rpcTable(results, "memory")}

## GetHistory cost against window size

${linearityTable(results)}

## Baselines and other generators

The direct ioredis baseline runs the server's own Append script (EVALSHA, auto-pipelined) from a Node process
without gRPC; the Python class (a copy of its logic in bench/python/, redis-py ${env.versions["redis (PyPI)"] ?? ""}) runs with
a client per call (its default with a URL) and with one reused client, from threads in one process. The Node
TypeScript client rows are the end-to-end latency a Node caller sees; that generator saturates its own core first.

${baselineTable(results)}

ghz cross-check (Go; reads grpc-status; uses reflection):

${results.ghz.length ? ghzTable(results) : "Not run."}

## Redis memory per stored message

${memory ? `${fmt(memory.conversations)} conversations × ${fmt(memory.messages / memory.conversations)} messages of 200 bytes written through the server: Redis \`used_memory\` grew by ${fmt(memory.usedMemoryDeltaBytes)} bytes, **${fmt(memory.bytesPerMessage, 0)} bytes per stored message** (the JSON element itself is ${memory.elementBytes} bytes: \`{"role","content","ts"}\`).` : "Not run."}

## Soak

${soakSection(results)}

## Watch

${watchSection(results)}

${notes}
`;
  writeFileSync(options.out, markdown);
  return `Targets:\n${checks.map((c) => `  ${c.met ? "MET " : "MISS"} ${c.target}: ${c.measured} = ${fmt(c.ratio, 2)} (${c.required})`).join("\n")}`;
}
