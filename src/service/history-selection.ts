/**
 * Which stored messages a GetHistory returns, the same for every store: the
 * store reads the pinned messages and the window (or its newest `limit`), and
 * this applies the request's range, token budget and the tool-safe rule.
 */
import type { HistoryReadResult, StoredMessage } from "../store/chat-store.js";
import type { HistoryResponse } from "./history-response.js";

export interface HistoryQuery {
  /** Newest window messages wanted; 0 = all. */
  limit: number;
  /** Token budget for pinned plus window messages; 0 = none. */
  maxTokens: number;
  /** Only seqs above this; 0 = not set. */
  afterSeq: number;
  /** Only seqs below this; 0 = not set. */
  beforeSeq: number;
  /** Drop `tool` messages that lead a window cut by `limit` or `maxTokens`. */
  toolSafe: boolean;
}

/** A range read (after_seq or before_seq set) returns exactly the stored messages in range. */
export function isRangeRead(query: HistoryQuery): boolean {
  return query.afterSeq > 0 || query.beforeSeq > 0;
}

/** How many of the newest window elements the store needs to read for `query` (0 = all). */
export function elementsToRead(query: HistoryQuery): number {
  return isRangeRead(query) ? 0 : query.limit;
}

/** The index from which the newest messages fit in `budget` tokens (messages.length when none fits). */
function newestWithin(messages: readonly StoredMessage[], budget: number, tokenCount: (message: StoredMessage) => number): number {
  let start = messages.length;
  let used = 0;
  while (start > 0) {
    used += tokenCount(messages[start - 1] as StoredMessage);
    if (used > budget) break;
    start--;
  }
  return start;
}

/** The messages to answer with, from what the store read for `elementsToRead(query)`. */
export function selectHistory(read: HistoryReadResult, query: HistoryQuery, tokenCount: (message: StoredMessage) => number): HistoryResponse {
  const range = isRangeRead(query);
  const inRange = (message: StoredMessage) =>
    message.seq !== undefined && (query.afterSeq === 0 || message.seq > query.afterSeq) && (query.beforeSeq === 0 || message.seq < query.beforeSeq);
  const pinned = range ? read.pinned.filter(inRange) : read.pinned;
  let window = range ? read.messages.filter(inRange) : read.messages;
  // Without a range, the store read only the newest `limit` elements: anything before them was cut.
  let cut = !range && query.limit > 0 && read.windowLength > query.limit;
  if (range && query.limit > 0 && window.length > query.limit) window = window.slice(-query.limit);
  if (query.maxTokens > 0) {
    const budget = query.maxTokens - pinned.reduce((sum, message) => sum + tokenCount(message), 0);
    const start = budget < 0 ? window.length : newestWithin(window, budget, tokenCount);
    if (start > 0) {
      window = window.slice(start);
      cut = true;
    }
  }
  if (cut && !range && query.toolSafe) {
    let start = 0;
    while (start < window.length && (window[start] as StoredMessage).role === "tool") start++;
    if (start > 0) window = window.slice(start);
  }
  let totalTokens = 0;
  for (const message of pinned) totalTokens += tokenCount(message);
  for (const message of window) totalTokens += tokenCount(message);
  return { pinned, messages: window, epoch: read.epoch, tokenCount, totalTokens };
}
