/** Plot and report from a results.json: shared by the run and by bench/write-report.ts (rewrites the notes without rerunning). */
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { plotResults } from "./plot.js";
import { writeReport } from "./report.js";
import type { BenchResults } from "./results.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export async function publish(results: BenchResults, resultsDir: string): Promise<{ out: string; summary: string }> {
  const plot = await plotResults(results, join(resultsDir, "throughput-p99.png"));
  const out = resolve(ROOT, process.env.BENCH_OUT ?? "BENCHMARKS.md");
  const summary = writeReport(results, { out, plotPath: plot, notesPath: join(ROOT, "bench", "notes.md") });
  return { out, summary };
}
