/**
 * Synchronous token counting on the calling thread: tiktoken's pre-tokenization (its own pattern,
 * from js-tiktoken's ranks file), then each piece's byte-pair merge (./byte-pair-count.ts).
 *
 * Special-token text such as `<|endoftext|>` is counted as ordinary text, as tiktoken's
 * `encode_ordinary` (and `encode(text, disallowed_special=())`) does: stored content is never a
 * control sequence, and a count must not throw.
 */
import { countMergedParts } from "./byte-pair-count.js";
import { loadBpe, type TokenEncoding } from "./encodings.js";

export function countTokens(encoding: TokenEncoding, text: string): number {
  const bpe = loadBpe(encoding);
  const pattern = bpe.pattern;
  pattern.lastIndex = 0;
  let count = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(text)) !== null) {
    // The pattern never matches the empty string; this guard only rules out looping forever.
    if (match[0] === "") {
      pattern.lastIndex++;
      continue;
    }
    const piece = utf8AsLatin1(match[0]);
    if (piece.length === 1 || bpe.ranks.has(piece)) count++;
    else count += countMergedParts(piece, bpe);
  }
  return count;
}

// Most pieces are ASCII: their chars already are their UTF-8 bytes.
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * UTF-8 bytes as a latin1 string. A lone surrogate becomes U+FFFD's bytes (EF BF BD), as with
 * TextEncoder in js-tiktoken, and as tiktoken itself does (it re-encodes such text with "replace").
 */
function utf8AsLatin1(s: string): string {
  return NON_ASCII.test(s) ? Buffer.from(s, "utf8").toString("latin1") : s;
}
