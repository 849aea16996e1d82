/**
 * Rewrites BENCHMARKS.md and the plot from bench/results/results.json, e.g.
 * after editing bench/notes.md, without measuring again:
 *
 *   npm run build && npm run build:bench && node dist-bench/bench/write-report.js [results dir]
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { publish } from "./lib/publish.js";
import type { BenchResults } from "./lib/results.js";

const resultsDir = resolve(process.argv[2] ?? join(fileURLToPath(new URL("../..", import.meta.url)), "bench", "results"));
const results = JSON.parse(readFileSync(join(resultsDir, "results.json"), "utf8")) as BenchResults;
const { out, summary } = await publish(results, resultsDir);
process.stdout.write(`${summary}\nwrote ${out}\n`);
