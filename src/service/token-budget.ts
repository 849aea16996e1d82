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
  count(texts: readonly string[]): Promise<number[]>;
}

/** Each message's token count: its content's, plus each tool call's name and arguments', all counted in one call. */
async function countMessages(counter: TextTokenCounter, messages: readonly Pick<StoredMessage, "content" | "toolCalls">[]): Promise<number[]> {
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

/** The token counts to store with messages being appended, as `tokens` records. */
export async function tokensForAppend(
  counter: TextTokenCounter,
  messages: readonly Pick<StoredMessage, "content" | "toolCalls">[],
): Promise<Record<string, number>[]> {
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
