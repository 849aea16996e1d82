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
import { MEMO_PIECE_CHARS, rangeHash } from "./piece-memo.js";

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
    // One byte is one token.
    count += end - start === 1 && text.charCodeAt(start) < 0x80 ? 1 : pieceTokens(text, start, end, ascii, bpe);
    start = end;
  }
  return count;
}

/** The tokens of the piece text[start, end); short pieces' counts are memoized (./piece-memo.ts). */
function pieceTokens(text: string, start: number, end: number, ascii: boolean, bpe: Bpe): number {
  if (end - start > MEMO_PIECE_CHARS) return bytesTokens(utf8Bytes(text.slice(start, end), ascii), bpe);
  const hash = rangeHash(text, start, end);
  let count = bpe.pieceCounts.get(text, start, end, hash);
  if (count < 0) {
    const piece = text.slice(start, end);
    count = bytesTokens(utf8Bytes(piece, ascii), bpe);
    bpe.pieceCounts.set(piece, hash, count);
  }
  return count;
}

/** `bytes`: a piece's UTF-8 bytes as a latin1 string. */
function bytesTokens(bytes: string, bpe: Bpe): number {
  if (bytes.length === 1 || bpe.ranks.has(bytes)) return 1;
  return countMergedParts(bytes, bpe);
}

/**
 * UTF-8 bytes as a latin1 string (`ascii`: the text is known to be ASCII). A lone surrogate becomes
 * U+FFFD's bytes (EF BF BD), as with TextEncoder in js-tiktoken, and as tiktoken itself does (it
 * re-encodes such text with "replace").
 */
function utf8Bytes(piece: string, ascii: boolean): string {
  // Most pieces of a non-ASCII text are still ASCII: their chars already are their UTF-8 bytes.
  return ascii || !NON_ASCII.test(piece) ? piece : Buffer.from(piece, "utf8").toString("latin1");
}
