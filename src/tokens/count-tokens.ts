/**
 * Synchronous token counting on the calling thread: tiktoken's pre-tokenization (its own pattern,
 * from js-tiktoken's ranks file), then each piece's byte-pair merge (./byte-pair-count.ts).
 *
 * Special-token text such as `<|endoftext|>` is counted as ordinary text, as tiktoken's
 * `encode_ordinary` (and `encode(text, disallowed_special=())`) does: stored content is never a
 * control sequence, and a count must not throw.
 */
import { countMergedParts } from "./byte-pair-count.js";
import { type Bpe, loadBpe, type TokenEncoding } from "./encodings.js";

// Counts of pieces up to this many bytes are kept, at most this many per encoding: a small table
// that stays in the CPU's caches, where the ranks (200k entries for o200k_base) mostly do not.
const MEMO_PIECE_BYTES = 32;
const MEMO_ENTRIES = 4096;

const NON_ASCII = /[^\x00-\x7f]/;

export function countTokens(encoding: TokenEncoding, text: string): number {
  const bpe = loadBpe(encoding);
  // An ASCII text's chars are its UTF-8 bytes, and its pieces come from the faster ASCII pattern.
  const ascii = !NON_ASCII.test(text);
  const pieces = ascii ? bpe.asciiPieces : bpe.pieces;
  const length = text.length;
  let count = 0;
  let start = 0;
  while (start < length) {
    pieces.lastIndex = start;
    let end: number;
    if (pieces.test(text)) {
      end = pieces.lastIndex;
    } else {
      // No piece starts here (tiktoken's patterns leave no gaps): skip to the next, as tiktoken's find_iter would.
      const pattern = bpe.pattern;
      pattern.lastIndex = start;
      const match = pattern.exec(text);
      if (match === null) break;
      start = match.index;
      end = start + match[0].length;
    }
    // The pattern never matches the empty string; this guard only rules out looping forever.
    if (end === start) {
      start++;
      continue;
    }
    const piece = text.slice(start, end);
    count += pieceTokens(ascii ? piece : utf8AsLatin1(piece), bpe);
    start = end;
  }
  return count;
}

/** `piece`: UTF-8 bytes as a latin1 string. */
function pieceTokens(piece: string, bpe: Bpe): number {
  if (piece.length === 1) return 1;
  const memo = bpe.pieceCounts;
  let count = memo.get(piece);
  if (count === undefined) {
    count = bpe.ranks.has(piece) ? 1 : countMergedParts(piece, bpe);
    if (piece.length <= MEMO_PIECE_BYTES) {
      if (memo.size >= MEMO_ENTRIES) memo.clear();
      memo.set(piece, count);
    }
  }
  return count;
}

/**
 * UTF-8 bytes as a latin1 string. A lone surrogate becomes U+FFFD's bytes (EF BF BD), as with
 * TextEncoder in js-tiktoken, and as tiktoken itself does (it re-encodes such text with "replace").
 */
function utf8AsLatin1(s: string): string {
  // Most pieces of a non-ASCII text are still ASCII: their chars already are their UTF-8 bytes.
  return NON_ASCII.test(s) ? Buffer.from(s, "utf8").toString("latin1") : s;
}
