/**
 * Reads a server's `--trace-gc-nvp` lines (one per GC, on its stdout) and summarises a window of
 * them: scavenges per second, their pauses, and the share of new-space allocation that survived a
 * scavenge (copied within new space or promoted). Start the server with
 * BENCH_SERVER_NODE_ARGS=--trace-gc-nvp; without it the summary is empty.
 */
import type { Readable } from "node:stream";
import { percentile, round } from "./stats.js";

interface GcEvent {
  kind: "scavenge" | "mark-compact" | "other";
  pauseMs: number;
  allocatedBytes: number;
  survivedBytes: number;
}

export interface GcSummary {
  scavengesPerS: number;
  scavengePauseMs: { p50: number; max: number };
  /** Bytes that survived scavenges ÷ bytes allocated in new space, in %. */
  newSpaceSurvivalPercent: number;
  survivedKiBPerCall: number;
  allocatedKiBPerCall: number;
  markCompacts: number;
}

const field = (line: string, name: string): number => Number(new RegExp(`\\b${name}=([\\d.]+)`).exec(line)?.[1] ?? Number.NaN);

export class GcTrace {
  readonly #events: GcEvent[] = [];
  #partial = "";

  constructor(stdout: Readable) {
    stdout.on("data", (chunk: Buffer) => {
      const lines = (this.#partial + chunk.toString()).split("\n");
      this.#partial = lines.pop() ?? "";
      for (const line of lines) {
        const kind = / gc=s /.test(line) ? "scavenge" : / gc=(mc|mmc|ms) /.test(line) ? "mark-compact" : undefined;
        if (kind === undefined || !line.includes("pause=")) continue;
        this.#events.push({ kind, pauseMs: field(line, "pause"), allocatedBytes: field(line, "allocated"), survivedBytes: field(line, "new_space_survived") });
      }
    });
  }

  /** Where the next window starts. */
  mark(): number {
    return this.#events.length;
  }

  /** The GCs since `from`, over `seconds` and `calls`; undefined when the server traced none. */
  summary(from: number, seconds: number, calls: number): GcSummary | undefined {
    const window = this.#events.slice(from);
    const scavenges = window.filter((event) => event.kind === "scavenge");
    if (scavenges.length === 0) return undefined;
    const pauses = scavenges.map((event) => event.pauseMs).sort((a, b) => a - b);
    const allocated = scavenges.reduce((sum, event) => sum + event.allocatedBytes, 0);
    const survived = scavenges.reduce((sum, event) => sum + event.survivedBytes, 0);
    return {
      scavengesPerS: round(scavenges.length / seconds, 2),
      scavengePauseMs: { p50: percentile(pauses, 50), max: pauses.at(-1) ?? Number.NaN },
      newSpaceSurvivalPercent: round((survived / allocated) * 100, 1),
      survivedKiBPerCall: round(survived / 1024 / calls, 2),
      allocatedKiBPerCall: round(allocated / 1024 / calls, 1),
      markCompacts: window.length - scavenges.length,
    };
  }
}
