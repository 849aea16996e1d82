/** Throughput and p99 versus concurrency, per RPC and store, as a PNG drawn by gnuplot. */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchResults, RpcMeasurement } from "./results.js";

interface Series {
  title: string;
  color: number;
  dash: number;
  points: RpcMeasurement[];
}

export function rpcLabel(m: Pick<RpcMeasurement, "rpc" | "window">): string {
  if (m.rpc === "ceiling") return "ceiling (Health/Check)";
  if (m.rpc === "append") return "Append";
  if (m.rpc === "history-uncached") return `GetHistory(${m.window}), decode cache off`;
  return `GetHistory(${m.window})`;
}

function series(results: BenchResults): Series[] {
  const kinds = [...new Set(results.rpcs.map((m) => rpcLabel(m)))];
  const out: Series[] = [];
  for (const store of ["redis", "memory"] as const) {
    for (const [index, kind] of kinds.entries()) {
      const points = results.rpcs
        .filter((m) => m.store === store && rpcLabel(m) === kind)
        .sort((a, b) => a.concurrency - b.concurrency)
        // Keep one point per concurrency (the linearity runs repeat c=16 for other windows).
        .filter((m, i, all) => all.findIndex((other) => other.concurrency === m.concurrency) === i);
      if (points.length > 1) out.push({ title: `${store}: ${kind}`, color: index + 1, dash: store === "redis" ? 1 : 2, points });
    }
  }
  return out;
}

/** Writes the PNG; resolves to its path (undefined when there is nothing to plot or gnuplot fails). */
export async function plotResults(results: BenchResults, pngPath: string): Promise<string | undefined> {
  const all = series(results);
  if (all.length === 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), "chatmemory-plot-"));
  try {
    const plots = (column: number) =>
      all
        .map((s, i) => {
          const file = join(dir, `series-${i}.dat`);
          writeFileSync(file, s.points.map((m) => `${m.concurrency} ${m.rps} ${m.p99Ms}`).join("\n"));
          return `'${file}' using 1:${column} with linespoints lw 2 pt 7 lc ${s.color} dt ${s.dash} title '${s.title}'`;
        })
        .join(", \\\n  ");
    const concurrencies = [...new Set(results.rpcs.map((m) => m.concurrency))].sort((a, b) => a - b);
    const script = `
set terminal pngcairo size 1500,650 font "sans,11"
set output '${pngPath}'
set multiplot layout 1,2 title "ChatMemory under h2load, ${results.environment.cores} cores, loopback (solid: Redis store, dashed: embedded store)"
set logscale xy
set xtics (${concurrencies.map((c) => `"${c}" ${c}`).join(", ")})
set xrange [${Math.max(0.7, (concurrencies[0] ?? 1) * 0.7)}:${(concurrencies.at(-1) ?? 64) * 1.4}]
set grid
# One legend (on the p99 panel, where the top left is free); both panels use the same lines.
unset key
set xlabel "concurrency (calls in flight)"
set ylabel "calls per second"
set title "Throughput"
plot ${plots(2)}
set ylabel "p99 latency (ms)"
set title "p99 latency"
set key top left font ",9" opaque
plot ${plots(3)}
unset multiplot
`;
    const scriptPath = join(dir, "plot.gp");
    writeFileSync(scriptPath, script);
    const code = await new Promise<number | null>((resolve) => spawn("gnuplot", [scriptPath], { stdio: "inherit" }).on("exit", resolve));
    return code === 0 ? pngPath : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
