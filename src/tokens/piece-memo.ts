/**
 * Token counts of short pieces seen lately (prose repeats its words), looked up by a range of the
 * text being counted: no substring is made for a piece already known, and the table (open
 * addressing, linear probing) is small enough to stay in the CPU's caches, where the ranks (200k
 * entries for o200k_base) mostly do not. Cleared when full, so a long text of unique pieces
 * cannot grow it.
 */

/** Pieces of at most this many UTF-16 units are kept. */
export const MEMO_PIECE_CHARS = 32;
const MAX_ENTRIES = 4096;
// Twice the entries, a power of two: probe runs stay short.
const SLOTS = MAX_ENTRIES * 2;
const MASK = SLOTS - 1;

/** FNV-1a over the UTF-16 units of text[start, end). */
export function rangeHash(text: string, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}

export class PieceMemo {
  readonly #pieces: string[] = new Array<string>(SLOTS).fill("");
  readonly #hashes = new Int32Array(SLOTS);
  readonly #counts = new Int32Array(SLOTS);
  #size = 0;

  /** The count kept for text[start, end) (its hash: rangeHash), or -1. */
  get(text: string, start: number, end: number, hash: number): number {
    const length = end - start;
    for (let slot = hash & MASK; ; slot = (slot + 1) & MASK) {
      const piece = this.#pieces[slot]!;
      if (piece === "") return -1;
      if (this.#hashes[slot] === hash && piece.length === length && sameChars(piece, text, start)) return this.#counts[slot]!;
    }
  }

  /** Keeps `piece`'s count (`hash`: its rangeHash); `piece` is not kept yet and not empty. */
  set(piece: string, hash: number, count: number): void {
    if (this.#size >= MAX_ENTRIES) {
      this.#pieces.fill("");
      this.#size = 0;
    }
    let slot = hash & MASK;
    while (this.#pieces[slot] !== "") slot = (slot + 1) & MASK;
    this.#pieces[slot] = piece;
    this.#hashes[slot] = hash;
    this.#counts[slot] = count;
    this.#size++;
  }
}

function sameChars(piece: string, text: string, start: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) !== text.charCodeAt(start + i)) return false;
  }
  return true;
}
