/**
 * Per-call self time by function, for two builds, from V8 CPU profiles of each build at two call
 * counts (bench/append-profile.ts): (large − small) ÷ (calls difference), so whatever does not
 * grow with the calls (start-up, loading the ranks, filling, warm-up) cancels out. Sorted by the
 * largest difference between the builds.
 *
 *   node dist-bench/bench/profile-diff.js <A small> <A large> <B small> <B large> <calls difference> [rows (50)]
 */
import { readFileSync } from "node:fs";

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self µs by "function file:line", plus TOTAL (busy, without idle). */
function selfTimes(file: string): Map<string, number> {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byNode = new Map<number, number>();
  profile.samples.forEach((node, i) => byNode.set(node, (byNode.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFunction = new Map<string, number>([["TOTAL", 0]]);
  for (const { id, callFrame } of profile.nodes) {
    if (callFrame.functionName === "(idle)") continue;
    const us = byNode.get(id) ?? 0;
    const key = `${callFrame.functionName || "(anonymous)"} ${callFrame.url.split("/").slice(-2).join("/")}:${callFrame.lineNumber}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byFunction.set("TOTAL", (byFunction.get("TOTAL") ?? 0) + us);
  }
  return byFunction;
}

function perCall(small: string, large: string, calls: number): Map<string, number> {
  const a = selfTimes(small);
  const b = selfTimes(large);
  return new Map([...new Set([...a.keys(), ...b.keys()])].map((key) => [key, ((b.get(key) ?? 0) - (a.get(key) ?? 0)) / calls]));
}

const [aSmall, aLarge, bSmall, bLarge, callsArg, rowsArg] = process.argv.slice(2);
if (!aSmall || !aLarge || !bSmall || !bLarge || !callsArg) throw new Error("usage: profile-diff.js <A small> <A large> <B small> <B large> <calls difference> [rows]");
const A = perCall(aSmall, aLarge, Number(callsArg));
const B = perCall(bSmall, bLarge, Number(callsArg));
const rows = [...new Set([...A.keys(), ...B.keys()])].map((key) => ({ key, a: A.get(key) ?? 0, b: B.get(key) ?? 0 }));
rows.sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a));
process.stdout.write("   A µs    B µs   B − A  function (self time per call)\n");
for (const { key, a, b } of rows.slice(0, Number(rowsArg ?? 50))) {
  process.stdout.write(`${a.toFixed(2).padStart(7)} ${b.toFixed(2).padStart(7)} ${(b - a).toFixed(2).padStart(7)}  ${key.slice(0, 120)}\n`);
}
