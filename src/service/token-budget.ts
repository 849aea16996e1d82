/**
 * Token counts as the service uses them: counted once per message on Append
 * (stored with it under the encoding's name), read back from what is stored,
 * and counted on read only for messages stored without a count for the
 * server's encoding (written by the Python class, or under another encoding).
 */
import type { StoredMessage } from "../store/chat-store.js";

/** Counts the tokens of texts under one encoding (src/tokens/token-counter.ts). */
export interface TextTokenCounter {
  readonly encoding: string;
  /** Texts adding up to at most this many chars may be counted with `countNow`. */
  readonly inlineChars: number;
  /** One text's count, on the calling thread (no promise): for texts within `inlineChars`. */
  countNow(text: string): number;
  count(texts: readonly string[]): Promise<number[]>;
}

type CountedMessage = Pick<StoredMessage, "content" | "toolCalls">;

/** Each message's token count: its content's, plus each tool call's name and arguments', all counted in one call. */
async function countMessages(counter: TextTokenCounter, messages: readonly CountedMessage[]): Promise<number[]> {
  const texts: string[] = [];
  // ends[i]: where message i's texts end in `texts`.
  const ends: number[] = [];
  for (const message of messages) {
    texts.push(message.content);
    for (const call of message.toolCalls ?? []) texts.push(call.name, call.arguments);
    ends.push(texts.length);
  }
  const counts = await counter.count(texts);
  let next = 0;
  return ends.map((end) => {
    let total = 0;
    while (next < end) total += counts[next++] as number;
    return total;
  });
}

/** The chars of a message's counted texts. */
function countedChars(message: CountedMessage): number {
  let chars = message.content.length;
  if (message.toolCalls !== undefined) {
    for (const call of message.toolCalls) chars += call.name.length + call.arguments.length;
  }
  return chars;
}

/**
 * The token counts to store with messages being appended, as `tokens` records, counted at once
 * when their texts are within the counter's inline budget (most Appends: no promise to wait for);
 * undefined otherwise, for tokensForAppend. The counts are those tokensForAppend gives.
 */
export function tokensForAppendNow(counter: TextTokenCounter, messages: readonly CountedMessage[]): Record<string, number>[] | undefined {
  let chars = 0;
  for (const message of messages) chars += countedChars(message);
  if (chars > counter.inlineChars) return undefined;
  const encoding = counter.encoding;
  const tokens: Record<string, number>[] = [];
  for (const message of messages) {
    let count = counter.countNow(message.content);
    if (message.toolCalls !== undefined) {
      for (const call of message.toolCalls) count += counter.countNow(call.name) + counter.countNow(call.arguments);
    }
    tokens.push({ [encoding]: count });
  }
  return tokens;
}

/** The token counts to store with messages being appended, as `tokens` records (long texts counted in the worker pool). */
export async function tokensForAppend(counter: TextTokenCounter, messages: readonly CountedMessage[]): Promise<Record<string, number>[]> {
  const counts = await countMessages(counter, messages);
  return counts.map((count) => ({ [counter.encoding]: count }));
}

/** Token counts of read messages: stored ones as they are, missing ones counted (and kept for shared messages). */
export class ReadTokenCounts {
  readonly #counter: TextTokenCounter;
  /** Counts made on read, by message object: shared (cached) messages are counted once. */
  readonly #counted = new WeakMap<StoredMessage, number>();

  constructor(counter: TextTokenCounter) {
    this.#counter = counter;
  }

  /** A function giving each of `messages` its token count; resolves once every count is known. */
  async of(messages: readonly StoredMessage[]): Promise<(message: StoredMessage) => number> {
    const encoding = this.#counter.encoding;
    const missing = messages.filter((message) => message.tokens?.[encoding] === undefined && !this.#counted.has(message));
    if (missing.length > 0) {
      const counts = await countMessages(this.#counter, missing);
      missing.forEach((message, index) => this.#counted.set(message, counts[index] as number));
    }
    return (message) => message.tokens?.[encoding] ?? this.#counted.get(message) ?? 0;
  }
}
