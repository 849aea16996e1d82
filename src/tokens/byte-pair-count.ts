/**
 * The number of tokens tiktoken's byte-pair merge leaves in one piece, in O(n log n).
 *
 * tiktoken (and js-tiktoken) merge by rescanning every adjacent pair for the lowest rank after each
 * merge: quadratic in the piece's length, and one unbroken run (a base64 blob, a letter repeated) is
 * one piece. This does the same merges in the same order with a min-heap of (rank, position) over a
 * doubly linked list of parts: the lowest rank first, ties to the leftmost pair, exactly as
 * tiktoken's `_byte_pair_merge`. Stale heap entries are skipped on pop (ranks are unique per byte
 * string, so an entry is current exactly when its rank is the pair's current rank).
 */
import type { Bpe } from "./encodings.js";

// rank * 2^32 + position is exact in a double (ranks < 2^21) and orders by rank, then position.
const POSITION_SPAN = 2 ** 32;

// Scratch arrays reused across calls: one thread counts one piece at a time.
let next = new Int32Array(0);
let prev = new Int32Array(0);
let pairRank = new Int32Array(0);
let heap = new Float64Array(0);

function ensureCapacity(n: number): void {
  if (next.length >= n + 1) return;
  const size = Math.max(n + 1, next.length * 2, 64);
  next = new Int32Array(size);
  prev = new Int32Array(size);
  pairRank = new Int32Array(size);
  heap = new Float64Array(size * 3);
}

let heapSize = 0;

function heapPush(key: number): void {
  let i = heapSize++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const up = heap[parent]!;
    if (up <= key) break;
    heap[i] = up;
    i = parent;
  }
  heap[i] = key;
}

function heapPop(): number {
  const top = heap[0]!;
  const last = heap[--heapSize]!;
  let i = 0;
  const half = heapSize >> 1;
  while (i < half) {
    let child = 2 * i + 1;
    let value = heap[child]!;
    const right = child + 1;
    if (right < heapSize && heap[right]! < value) {
      child = right;
      value = heap[right]!;
    }
    if (value >= last) break;
    heap[i] = value;
    i = child;
  }
  heap[i] = last;
  return top;
}

/** `piece`: the piece's UTF-8 bytes as a latin1 string (one char per byte), length ≥ 2. */
export function countMergedParts(piece: string, bpe: Bpe): number {
  const n = piece.length;
  const ranks = bpe.ranks;
  ensureCapacity(n);
  heapSize = 0;

  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  for (let i = 0; i < n - 1; i++) {
    const rank = bpe.pairRanks[(piece.charCodeAt(i) << 8) | piece.charCodeAt(i + 1)]!;
    pairRank[i] = rank;
    if (rank >= 0) heapPush(rank * POSITION_SPAN + i);
  }
  pairRank[n - 1] = -1;

  let parts = n;
  while (heapSize > 0) {
    const key = heapPop();
    const rank = Math.floor(key / POSITION_SPAN);
    const i = key - rank * POSITION_SPAN;
    if (pairRank[i] !== rank) continue;
    // Merge part i with the part after it (j); k is the part after that.
    const j = next[i]!;
    const k = next[j]!;
    next[i] = k;
    if (k < n) prev[k] = i;
    pairRank[j] = -1;
    parts--;
    if (k < n) {
      const r = ranks.get(piece.slice(i, next[k]!)) ?? -1;
      pairRank[i] = r;
      if (r >= 0) heapPush(r * POSITION_SPAN + i);
    } else {
      pairRank[i] = -1;
    }
    const p = prev[i]!;
    if (p >= 0) {
      const r = ranks.get(piece.slice(p, k)) ?? -1;
      pairRank[p] = r;
      if (r >= 0) heapPush(r * POSITION_SPAN + p);
    }
  }
  return parts;
}
