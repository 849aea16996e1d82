/**
 * Token counting figures (bench/notes.md, "Token counting"): this server's counter
 * (src/tokens/) against js-tiktoken's `encode(...).length` on the same ranks, where js-tiktoken
 * is not quadratic-slow, plus the 1 MiB hostile cases and the event loop's largest stall while
 * 512 KiB are counted in a worker.
 *
 *   npm run build && npm run build:bench && node_modules/.bin/node dist-bench/bench/token-counter.js
 */
import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";
import o200k from "js-tiktoken/ranks/o200k_base";
import { countTokens, createTokenCounter, DEFAULT_OFFLOAD_ABOVE_CHARS, type TokenEncoding } from "../src/tokens/token-counter.js";
import { base64Text, CHAT_MESSAGE, proseText } from "../test/helpers/token-texts.js";

const KiB = 1024;
const MiB = 1024 * KiB;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** Median ms of `rounds` timed calls (after one untimed call). */
function timeMs(fn: () => unknown, rounds: number): number {
  fn();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  return median(samples);
}

function onceMs(fn: () => unknown): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function perCallUs(fn: () => unknown, calls: number): number {
  for (let i = 0; i < calls / 10; i++) fn();
  const t = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return ((performance.now() - t) * 1000) / calls;
}

function row(cells: (string | number)[]): void {
  console.log(`| ${cells.join(" | ")} |`);
}

const fmt = (n: number, digits = 1): string => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const encoding: TokenEncoding = "o200k_base";
  console.log(`node ${process.version}\n`);

  console.log("Rank loading, first count on a thread (ms):");
  for (const enc of ["o200k_base", "cl100k_base"] as const) {
    const t = performance.now();
    countTokens(enc, "");
    console.log(`  ${enc}: ours ${fmt(performance.now() - t, 0)}`);
  }
  let t = performance.now();
  const reference = { o200k_base: new Tiktoken(o200k), cl100k_base: new Tiktoken(cl100k) };
  console.log(`  js-tiktoken (both encodings): ${fmt(performance.now() - t, 0)}\n`);
  const jsTiktoken = (enc: TokenEncoding, text: string): number => reference[enc].encode(text, [], []).length;
  const ours = (enc: TokenEncoding, text: string): number => countTokens(enc, text);

  console.log("| text | encoding | tokens | ours | js-tiktoken | unit |");
  console.log("|---|---|---:|---:|---:|---|");
  for (const enc of ["o200k_base", "cl100k_base"] as const) {
    row(["chat message, 200 B", enc, ours(enc, CHAT_MESSAGE), fmt(perCallUs(() => ours(enc, CHAT_MESSAGE), 50_000), 2), fmt(perCallUs(() => jsTiktoken(enc, CHAT_MESSAGE), 20_000), 2), "µs per call"]);
    for (const [name, text] of [["prose, 64 KiB", proseText(64 * KiB)], ["base64, 64 KiB", base64Text(64 * KiB)]] as const) {
      const a = timeMs(() => ours(enc, text), 9);
      const b = timeMs(() => jsTiktoken(enc, text), 5);
      row([name, enc, ours(enc, text), fmt((a * 1000) / 64), fmt((b * 1000) / 64), "µs per KiB"]);
    }
  }
  for (const size of [2 * KiB, 4 * KiB]) {
    const text = "a".repeat(size);
    row([`one letter, ${size / KiB} KiB`, encoding, ours(encoding, text), fmt(timeMs(() => ours(encoding, text), 5), 2), fmt(onceMs(() => jsTiktoken(encoding, text)), 0), "ms"]);
  }

  console.log("\n1 MiB (ms, median of 3; js-tiktoken once, and not on one letter: quadratic):\n");
  console.log("| text | encoding | tokens | ours | js-tiktoken |");
  console.log("|---|---|---:|---:|---:|");
  for (const enc of ["o200k_base", "cl100k_base"] as const) {
    for (const [name, text, reference] of [
      ["one letter", "a".repeat(MiB), false],
      ["base64", base64Text(MiB), true],
      ["prose", proseText(MiB), true],
      ["CJK, one run (3 MiB of UTF-8)", "語".repeat(MiB), false],
      ["spaces", " ".repeat(MiB), false],
    ] as const) {
      const a = timeMs(() => ours(enc, text), 3);
      const b = reference ? fmt(onceMs(() => jsTiktoken(enc, text)), 0) : "—";
      row([name, enc, ours(enc, text), fmt(a, 0), b]);
    }
  }

  console.log(`\nInline worst cases at the offload threshold (${DEFAULT_OFFLOAD_ABOVE_CHARS} chars, ms, median of 9):\n`);
  console.log("| text | tokens | ours |");
  console.log("|---|---:|---:|");
  const at = DEFAULT_OFFLOAD_ABOVE_CHARS;
  for (const [name, text] of [
    ["one letter", "a".repeat(at)],
    ["base64", base64Text(at)],
    ["CJK, one run", "語".repeat(at)],
    ["emoji", "😀".repeat(at / 2)],
    ["spaces", " ".repeat(at)],
    ["prose", proseText(at)],
  ] as const) {
    row([name, ours(encoding, text), fmt(timeMs(() => ours(encoding, text), 9), 2)]);
  }

  console.log("\nThrough createTokenCounter:\n");
  const inline = createTokenCounter(encoding);
  const offloaded = createTokenCounter(encoding, { offloadAboveChars: 0, workers: 1 });
  await offloaded.count(["warm up"]);
  for (const [name, counter] of [["inline (200 B < threshold)", inline], ["worker round trip (offloadAboveChars 0)", offloaded]] as const) {
    const calls = 2000;
    for (let i = 0; i < 200; i++) await counter.count([CHAT_MESSAGE]);
    const start = performance.now();
    for (let i = 0; i < calls; i++) await counter.count([CHAT_MESSAGE]);
    console.log(`  chat message, ${name}: ${fmt(((performance.now() - start) * 1000) / calls, 1)} µs per call`);
  }
  await offloaded.close();

  for (const [name, text] of [["one letter", "a".repeat(512 * KiB)], ["base64", base64Text(512 * KiB)]] as const) {
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    const start = performance.now();
    const [n] = await inline.count([text]);
    const took = performance.now() - start;
    clearInterval(timer);
    console.log(`  512 KiB ${name}: ${n} tokens in ${fmt(took, 0)} ms (worker, first call loads ranks there), largest gap between 10 ms timer ticks ${fmt(maxGap, 1)} ms`);
  }
  await inline.close();
}

await main();
