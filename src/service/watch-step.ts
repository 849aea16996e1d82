/**
 * The steps a Watch stream sends, built from store reads: new messages in seq
 * order, or a reset carrying the whole conversation. Deciding which one a read
 * allows is the one rule every part of Watch shares: new messages are sent
 * only when every seq after the last one sent is still stored.
 */
import type { HistoryReadResult, StoredMessage } from "../store/chat-store.js";

/** A stored message and whether it is pinned, as a step carries it. */
export interface StepMessage {
  message: StoredMessage;
  pinned: boolean;
}

/** One WatchResponse, before encoding. */
export interface WatchStep {
  /** Seq order (reset false), or pinned first then the window (reset true). */
  messages: readonly StepMessage[];
  reset: boolean;
  epoch: string;
  /** The conversation's last seq after this step: where the receiver stands once it has it. */
  lastSeq: number;
}

/** The read's messages with a seq greater than `afterSeq`, pinned and window alike, in seq order. */
function messagesAfter(read: HistoryReadResult, afterSeq: number): StepMessage[] {
  const after: StepMessage[] = [];
  for (const message of read.pinned) if (message.seq !== undefined && message.seq > afterSeq) after.push({ message, pinned: true });
  for (const message of read.messages) if (message.seq !== undefined && message.seq > afterSeq) after.push({ message, pinned: false });
  return after.sort((a, b) => (a.message.seq as number) - (b.message.seq as number));
}

/** Every message with a seq, as new messages: for receivers standing at different seqs, each takes what it misses. */
export function everythingStep(read: HistoryReadResult): WatchStep {
  return { messages: messagesAfter(read, 0), reset: false, epoch: read.epoch, lastSeq: read.lastSeq };
}

/** The whole conversation as a reset step: pinned messages first, then the window. */
export function resetStep(read: HistoryReadResult): WatchStep {
  return {
    messages: [...read.pinned.map((message) => ({ message, pinned: true })), ...read.messages.map((message) => ({ message, pinned: false }))],
    reset: true,
    epoch: read.epoch,
    lastSeq: read.lastSeq,
  };
}

/**
 * The step that brings a receiver standing at `afterSeq` up to the read, or undefined when the read
 * cannot: some seq after `afterSeq` is no longer stored (trimmed before it was sent, or not in a
 * partial read), or `afterSeq` is beyond what the conversation ever gave.
 */
export function stepAfter(read: HistoryReadResult, afterSeq: number): WatchStep | undefined {
  if (afterSeq > read.lastSeq) return undefined;
  const messages = messagesAfter(read, afterSeq);
  if (messages.length !== read.lastSeq - afterSeq) return undefined;
  for (let i = 0; i < messages.length; i++) if ((messages[i] as StepMessage).message.seq !== afterSeq + i + 1) return undefined;
  return { messages, reset: false, epoch: read.epoch, lastSeq: read.lastSeq };
}

/**
 * The first step of a Watch for a caller standing at (`afterSeq`, `epoch`): the messages after it,
 * or a reset when the caller's epoch is not the conversation's (empty = unknown) or a seq after it
 * is gone. On a conversation that holds nothing: nothing, a reset when the caller knew a past.
 */
export function firstStep(read: HistoryReadResult, afterSeq: number, epoch: string): WatchStep {
  if (read.epoch === "") return { messages: [], reset: epoch !== "", epoch: "", lastSeq: read.lastSeq };
  if (epoch !== read.epoch) return resetStep(read);
  return stepAfter(read, afterSeq) ?? resetStep(read);
}

/** The part of an append step a receiver standing at `afterSeq` still needs (the step itself when all of it). */
export function remainderAfter(step: WatchStep, afterSeq: number): WatchStep {
  // The usual case (every watcher stands right before the step): no search, no copy.
  const head = step.messages[0];
  if (head === undefined || (head.message.seq as number) > afterSeq) return step;
  const first = step.messages.findIndex(({ message }) => (message.seq as number) > afterSeq);
  return { ...step, messages: first < 0 ? [] : step.messages.slice(first) };
}

/**
 * One step per Append: an append step cut after each of `appendEnds` (the last seqs the Appends
 * announced, ascending, none before the step's first message). Messages after the last end are
 * left out: their Append's announcement has not been heard yet, and brings them in its own step.
 */
export function stepsPerAppend(step: WatchStep, appendEnds: readonly number[]): WatchStep[] {
  if (appendEnds.length === 1 && appendEnds[0] === step.lastSeq) return [step];
  const steps: WatchStep[] = [];
  let next = 0;
  for (const end of appendEnds) {
    const start = next;
    while (next < step.messages.length && ((step.messages[next] as StepMessage).message.seq as number) <= end) next++;
    steps.push({ messages: step.messages.slice(start, next), reset: false, epoch: step.epoch, lastSeq: end });
  }
  return steps;
}
