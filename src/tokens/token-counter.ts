/**
 * Token counts for `token_count` (design.md, "Token budgets"): exactly tiktoken's count under
 * o200k_base or cl100k_base, fast on hostile input (./byte-pair-count.ts), and without holding up
 * other calls: short texts (most chat messages) are counted inline, where a worker round trip would
 * cost more than the count; long ones, and whatever exceeds an inline budget per call, go to a
 * piscina worker pool so the event loop stays free.
 */
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { countTokens } from "./count-tokens.js";
import type { CountTask } from "./count-worker.js";
import { TOKEN_ENCODINGS, type TokenEncoding } from "./encodings.js";

export { TOKEN_ENCODINGS, type TokenEncoding };
export { countTokens };

export interface TokenCounter {
  readonly encoding: TokenEncoding;
  /** Texts adding up to at most this many UTF-16 chars are counted inline: `count` does so, and `countNow` may be used instead. */
  readonly inlineChars: number;
  /** One text's token count, on the calling thread: for texts within `inlineChars` (counting a longer one here would hold up other calls). */
  countNow(text: string): number;
  /** The token count of each text, in order. Never rejects for any string (lone surrogates included). */
  count(texts: readonly string[]): Promise<number[]>;
  /** Ends the worker threads; later `count` calls reject. */
  close(): Promise<void>;
}

export interface TokenCounterOptions {
  /**
   * Texts longer than this many UTF-16 chars are counted in a worker thread; so is whatever a call
   * has left once the short texts it counted inline add up to this many chars.
   */
  offloadAboveChars?: number;
  /** Worker threads at most (started on demand, ended when idle). */
  workers?: number;
}

// Inline counting of this much stays within a few ms even for the worst case (one long run), and
// below it a worker round trip costs about as much as the count itself.
export const DEFAULT_OFFLOAD_ABOVE_CHARS = 8 * 1024;
// A batch of short texts sent to a worker: large enough to amortize the round trip.
const WORKER_BATCH_CHARS_FACTOR = 8;
const WORKER_IDLE_TIMEOUT_MS = 60_000;

export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export function createTokenCounter(encoding: TokenEncoding, options: TokenCounterOptions = {}): TokenCounter {
  if (!(TOKEN_ENCODINGS as readonly string[]).includes(encoding)) throw new Error(`unknown token encoding: ${String(encoding)}`);
  const offloadAbove = options.offloadAboveChars ?? DEFAULT_OFFLOAD_ABOVE_CHARS;
  if (!Number.isInteger(offloadAbove) || offloadAbove < 0) throw new Error("offloadAboveChars must be an integer >= 0");
  const workers = options.workers ?? defaultWorkerCount();
  if (!Number.isInteger(workers) || workers < 1) throw new Error("workers must be an integer >= 1");

  const pool = new Piscina<CountTask, number[]>({
    filename: workerScript(),
    minThreads: 0,
    maxThreads: workers,
    idleTimeout: WORKER_IDLE_TIMEOUT_MS,
  });
  let closed = false;

  const offload = (texts: string[]): Promise<number[]> => pool.run({ encoding, texts });

  return {
    encoding,
    inlineChars: offloadAbove,
    countNow(text: string): number {
      if (closed) throw new Error("token counter is closed");
      return countTokens(encoding, text);
    },
    async count(texts: readonly string[]): Promise<number[]> {
      if (closed) throw new Error("token counter is closed");
      const counts = new Array<number>(texts.length).fill(0);
      const jobs: Promise<void>[] = [];
      const send = (indexes: number[]): void => {
        const batch = indexes.map((i) => texts[i]!);
        jobs.push(offload(batch).then((result) => indexes.forEach((index, k) => (counts[index] = result[k]!))));
      };
      let inlineChars = 0;
      let batch: number[] = [];
      let batchChars = 0;
      for (let i = 0; i < texts.length; i++) {
        const text = texts[i]!;
        if (text.length > offloadAbove) {
          send([i]);
        } else if (inlineChars + text.length <= offloadAbove) {
          inlineChars += text.length;
          counts[i] = countTokens(encoding, text);
        } else {
          batch.push(i);
          batchChars += text.length;
          if (batchChars >= offloadAbove * WORKER_BATCH_CHARS_FACTOR) {
            send(batch);
            batch = [];
            batchChars = 0;
          }
        }
      }
      if (batch.length > 0) send(batch);
      if (jobs.length > 0) await Promise.all(jobs);
      return counts;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool.destroy();
    },
  };
}

/**
 * The worker script: beside this module once compiled (dist/src/tokens/). When this module runs
 * from its TypeScript source (vitest) or from another build (dist-bench/), the server build's copy
 * in dist/src/tokens/ is used: `npm run build` first.
 */
function workerScript(): string {
  const candidates = [new URL("./count-worker.js", import.meta.url), new URL("../../dist/src/tokens/count-worker.js", import.meta.url)];
  for (const candidate of candidates) {
    if (existsSync(fileURLToPath(candidate))) return candidate.href;
  }
  throw new Error(`token counter worker script not found (looked for ${candidates.map((c) => fileURLToPath(c)).join(", ")}): run npm run build`);
}
