/**
 * The encodings the server counts with, and their ranks, loaded from js-tiktoken's package (never
 * downloaded). Loaded lazily and once per thread: each worker thread holds its own copy.
 */
import { createRequire } from "node:module";
import { asciiPatternSource } from "./ascii-pattern.js";

export const TOKEN_ENCODINGS = ["o200k_base", "cl100k_base"] as const;
export type TokenEncoding = (typeof TOKEN_ENCODINGS)[number];

export function isTokenEncoding(value: unknown): value is TokenEncoding {
  return typeof value === "string" && (TOKEN_ENCODINGS as readonly string[]).includes(value);
}

/** One encoding's ranks, keyed by the token's bytes as a latin1 string (one char per byte). */
export interface Bpe {
  readonly ranks: ReadonlyMap<string, number>;
  /** Rank of each two-byte sequence (b0 << 8 | b1), -1 when it is no token: the first round of every merge. */
  readonly pairRanks: Int32Array;
  /** tiktoken's pre-tokenization pattern (global): the pieces are merged independently. */
  readonly pattern: RegExp;
  /** The same, sticky: matched with test() at each piece's start, no match array made. */
  readonly pieces: RegExp;
  /** Sticky and for ASCII-only text: the pattern with its Unicode classes as ASCII ones (./ascii-pattern.ts). */
  readonly asciiPieces: RegExp;
  /** Token counts of short pieces seen lately (prose repeats its words); see count-tokens.ts. */
  readonly pieceCounts: Map<string, number>;
}

interface RanksFile {
  pat_str: string;
  special_tokens: Record<string, number>;
  bpe_ranks: string;
}

// createRequire keeps the lazy load synchronous (the small-text path counts inline), through the
// package's own `require` export of the same ranks file.
const require = createRequire(import.meta.url);
const RANK_MODULES: Record<TokenEncoding, string> = {
  o200k_base: "js-tiktoken/ranks/o200k_base",
  cl100k_base: "js-tiktoken/ranks/cl100k_base",
};

const loaded = new Map<TokenEncoding, Bpe>();

export function loadBpe(encoding: TokenEncoding): Bpe {
  let bpe = loaded.get(encoding);
  if (bpe === undefined) {
    const mod = require(RANK_MODULES[encoding]) as RanksFile | { default: RanksFile };
    bpe = parseRanks("default" in mod ? mod.default : mod);
    loaded.set(encoding, bpe);
  }
  return bpe;
}

/** js-tiktoken's compact format: lines of `<prefix> <first rank> <base64 token>...`, ranks consecutive. */
function parseRanks(file: RanksFile): Bpe {
  const ranks = new Map<string, number>();
  const pairRanks = new Int32Array(1 << 16).fill(-1);
  for (const line of file.bpe_ranks.split("\n")) {
    if (line === "") continue;
    const fields = line.split(" ");
    const offset = Number.parseInt(fields[1] ?? "", 10);
    for (let i = 2; i < fields.length; i++) {
      const bytes = Buffer.from(fields[i] ?? "", "base64").toString("latin1");
      const rank = offset + i - 2;
      ranks.set(bytes, rank);
      if (bytes.length === 2) pairRanks[(bytes.charCodeAt(0) << 8) | bytes.charCodeAt(1)] = rank;
    }
  }
  const ascii = asciiPatternSource(file.pat_str);
  return {
    ranks,
    pairRanks,
    pattern: new RegExp(file.pat_str, "gu"),
    pieces: new RegExp(file.pat_str, "uy"),
    asciiPieces: ascii === undefined ? new RegExp(file.pat_str, "uy") : new RegExp(ascii, "y"),
    pieceCounts: new Map(),
  };
}
