/**
 * Which stored messages a GetHistory returns, the same for every store: the
 * store reads the pinned messages and the window (or its newest `limit`), and
 * this applies the request's range and the tool-safe rule.
 */
import type { HistoryReadResult, StoredMessage } from "../store/chat-store.js";
import type { HistoryResponse } from "./history-response.js";

export interface HistoryQuery {
  /** Newest window messages wanted; 0 = all. */
  limit: number;
  /** Only seqs above this; 0 = not set. */
  afterSeq: number;
  /** Only seqs below this; 0 = not set. */
  beforeSeq: number;
  /** Drop `tool` messages that lead a window cut by `limit`. */
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

/** The messages to answer with, from what the store read for `elementsToRead(query)`. */
export function selectHistory(read: HistoryReadResult, query: HistoryQuery): HistoryResponse {
  if (isRangeRead(query)) {
    const inRange = (message: StoredMessage) =>
      message.seq !== undefined && (query.afterSeq === 0 || message.seq > query.afterSeq) && (query.beforeSeq === 0 || message.seq < query.beforeSeq);
    const window = read.messages.filter(inRange);
    return {
      pinned: read.pinned.filter(inRange),
      messages: query.limit > 0 && window.length > query.limit ? window.slice(-query.limit) : window,
      epoch: read.epoch,
    };
  }
  // The store read the newest `limit` elements: anything before them was cut.
  const cut = query.limit > 0 && read.windowLength > query.limit;
  let start = 0;
  if (cut && query.toolSafe) {
    while (start < read.messages.length && (read.messages[start] as StoredMessage).role === "tool") start++;
  }
  return { pinned: read.pinned, messages: start === 0 ? read.messages : read.messages.slice(start), epoch: read.epoch };
}
