/**
 * Top self-time functions of a V8 CPU profile (node --cpu-prof), grouped by
 * function and file, plus the share spent in each package (grpc-js,
 * protobuf-es, ioredis, pino, ChatMemory's own code, node internals, GC):
 *
 *   node dist-bench/bench/profile-summary.js bench/results/profiles/server-redis-….cpuprofile [top]
 *
 * `BENCH_CPU_PROFILE=1 npm run bench` writes such profiles for the servers under test.
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the stack a frame belongs to, from its script URL. */
export function frameOwner(url: string, functionName: string): string {
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(idle)" || functionName === "(program)") return functionName;
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packageMatch?.[1]) return packageMatch[1];
  if (url.includes("/dist/src/") || url.includes("/dist/gen/")) return "chatmemory";
  if (url.startsWith("node:") || url === "") return "node internals / native";
  return url;
}

export function summarize(profile: CpuProfile, top: number): string {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((nodeId, index) => selfUs.set(nodeId, (selfUs.get(nodeId) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const owner = frameOwner(url, functionName);
    if (owner === "(idle)") continue;
    busy += us;
    const file = url.replace(/^.*node_modules\//, "").replace(/^.*\/dist\//, "dist/");
    const key = `${functionName || "(anonymous)"}  ${file}${url ? `:${lineNumber + 1}` : ""}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
  }
  const inclusive = inclusiveTimes(profile, selfUs);
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)}%`;
  const lines = [`busy (non-idle) CPU: ${(busy / 1e6).toFixed(2)} s`, "", "self time by package:"];
  for (const [owner, us] of [...byOwner].sort((a, b) => b[1] - a[1])) lines.push(`  ${pct(us)}  ${owner}`);
  lines.push("", `top ${top} functions by self time:`);
  for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${key}`);
  lines.push("", `top ${top} functions by total time (self + callees, recursion counted once):`);
  for (const [key, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${key}`);
  return lines.join("\n");
}

/** Self plus callees per function, counting a function once when it appears again below itself. */
function inclusiveTimes(profile: CpuProfile, selfUs: Map<number, number>): Map<string, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const subtree = new Map<number, number>();
  const total = (id: number): number => {
    const known = subtree.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    let sum = selfUs.get(id) ?? 0;
    for (const child of node?.children ?? []) sum += total(child);
    subtree.set(id, sum);
    return sum;
  };
  const result = new Map<string, number>();
  const active = new Map<string, number>();
  const walk = (id: number) => {
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || "(anonymous)"}  ${url.replace(/^.*node_modules\//, "").replace(/^.*\/dist\//, "dist/")}${url ? `:${lineNumber + 1}` : ""}`;
    const outermost = !active.get(key);
    if (outermost && functionName !== "(root)" && functionName !== "(idle)" && functionName !== "(program)") {
      result.set(key, (result.get(key) ?? 0) + total(id));
    }
    active.set(key, (active.get(key) ?? 0) + 1);
    for (const child of node.children ?? []) walk(child);
    active.set(key, (active.get(key) ?? 1) - 1);
  };
  const root = profile.nodes[0];
  if (root) walk(root.id);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [path, top] = process.argv.slice(2);
  if (!path) throw new Error("usage: profile-summary.js <file.cpuprofile> [top]");
  process.stdout.write(`${summarize(JSON.parse(readFileSync(path, "utf8")) as CpuProfile, Number(top ?? 25))}\n`);
}
