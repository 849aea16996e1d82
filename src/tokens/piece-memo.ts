/**
 * Token counts of short pieces seen lately (prose repeats its words), looked up by a range of the
 * text being counted: no substring is made for a piece already known, and the table (open
 * addressing, linear probing) is small enough to stay in the CPU's caches, where the ranks (200k
 * entries for o200k_base) mostly do not. Cleared when full (4096 pieces), so a long text of unique
 * pieces cannot grow it further.
 */

/** Pieces of at most this many UTF-16 units are kept. */
export const MEMO_PIECE_CHARS = 32;
const MAX_ENTRIES = 4096;
// Slots: a power of two, at least twice the entries (probe runs stay short). The table starts small
// and doubles as it fills, so a small vocabulary (a chat's) stays within a few cache lines.
const FIRST_SLOTS = 64;
const MAX_SLOTS = MAX_ENTRIES * 2;

/** FNV-1a over the UTF-16 units of text[start, end). */
export function rangeHash(text: string, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}

export class PieceMemo {
  #pieces: string[] = [];
  /** Per slot, its piece's hash and count side by side (one cache line for both). */
  #hashAndCount = new Int32Array(0);
  #mask = 0;
  #size = 0;

  constructor() {
    this.#resize(FIRST_SLOTS);
  }

  /** The count kept for text[start, end) (its hash: rangeHash), or -1. */
  get(text: string, start: number, end: number, hash: number): number {
    const length = end - start;
    const pieces = this.#pieces;
    const hashAndCount = this.#hashAndCount;
    for (let slot = hash & this.#mask; ; slot = (slot + 1) & this.#mask) {
      const piece = pieces[slot]!;
      if (piece === "") return -1;
      if (hashAndCount[2 * slot] === hash && piece.length === length && sameChars(piece, text, start)) return hashAndCount[2 * slot + 1]!;
    }
  }

  /** Keeps `piece`'s count (`hash`: its rangeHash); `piece` is not kept yet and not empty. */
  set(piece: string, hash: number, count: number): void {
    if (2 * (this.#size + 1) > this.#pieces.length) {
      if (this.#pieces.length < MAX_SLOTS) this.#resize(this.#pieces.length * 2);
      else this.#resize(MAX_SLOTS, false);
    }
    this.#put(piece, hash, count);
  }

  #put(piece: string, hash: number, count: number): void {
    let slot = hash & this.#mask;
    while (this.#pieces[slot] !== "") slot = (slot + 1) & this.#mask;
    this.#pieces[slot] = piece;
    this.#hashAndCount[2 * slot] = hash;
    this.#hashAndCount[2 * slot + 1] = count;
    this.#size++;
  }

  /** A table of `slots` slots, with the entries kept (`keep`) or cleared (when full). */
  #resize(slots: number, keep = true): void {
    const pieces = this.#pieces;
    const hashAndCount = this.#hashAndCount;
    this.#pieces = new Array<string>(slots).fill("");
    this.#hashAndCount = new Int32Array(2 * slots);
    this.#mask = slots - 1;
    this.#size = 0;
    if (!keep) return;
    for (let slot = 0; slot < pieces.length; slot++) {
      if (pieces[slot] !== "") this.#put(pieces[slot]!, hashAndCount[2 * slot]!, hashAndCount[2 * slot + 1]!);
    }
  }
}

function sameChars(piece: string, text: string, start: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) !== text.charCodeAt(start + i)) return false;
  }
  return true;
}
