/**
 * The token counter's CPU time (process.cpuUsage, so a busy shared machine inflates it less than
 * wall time) per KiB of prose and of base64 and per chat message, for this build and another
 * build's dist directory, interleaved, medians of 9 rounds (bench/notes.md, sixth round).
 *
 *   node dist-bench/bench/token-cpu.js <other build's dist dir, e.g. /work/wt-old/dist>
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { countTokens, type TokenEncoding } from "../src/tokens/token-counter.js";
import { base64Text, CHAT_MESSAGE, proseText } from "../test/helpers/token-texts.js";

type Count = (encoding: TokenEncoding, text: string) => number;

const otherDist = process.argv[2];
if (!otherDist) throw new Error("usage: token-cpu.js <other build's dist dir>");
const other = (await import(pathToFileURL(resolve(otherDist, "src/tokens/count-tokens.js")).href)) as { countTokens: Count };

function cpuUsPerCall(count: Count, encoding: TokenEncoding, text: string, calls: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) count(encoding, text);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const texts: [string, string, boolean][] = [
  ["prose, 64 KiB", proseText(64 * 1024), true],
  ["base64, 64 KiB", base64Text(64 * 1024), true],
  ["chat message, 202 B", CHAT_MESSAGE, false],
];
process.stdout.write(`| text | encoding | ${otherDist} | this build | ratio | unit |\n|---|---|---:|---:|---:|---|\n`);
for (const encoding of ["o200k_base", "cl100k_base"] as const) {
  countTokens(encoding, "load the ranks");
  other.countTokens(encoding, "load the ranks");
  for (const [name, text, perKiB] of texts) {
    if (countTokens(encoding, text) !== other.countTokens(encoding, text)) throw new Error(`${name}: the builds count differently`);
    const calls = perKiB ? 3 : 2000;
    const theirs: number[] = [];
    const ours: number[] = [];
    for (let round = 0; round < 9; round++) {
      theirs.push(cpuUsPerCall(other.countTokens, encoding, text, calls));
      ours.push(cpuUsPerCall(countTokens, encoding, text, calls));
    }
    const scale = perKiB ? 1024 / Buffer.byteLength(text) : 1;
    const [a, b] = [median(theirs) * scale, median(ours) * scale];
    process.stdout.write(`| ${name} | ${encoding} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)} | ${perKiB ? "µs per KiB" : "µs per call"} |\n`);
  }
}
