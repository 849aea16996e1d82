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

/** The texts a message's token_count covers: its content, and each tool call's name and arguments. */
function countedTexts(message: Pick<StoredMessage, "content" | "toolCalls">): string[] {
  const texts = [message.content];
  for (const call of message.toolCalls ?? []) texts.push(call.name, call.arguments);
  return texts;
}

/** Each message's token count, counting all their texts in one call. */
async function countMessages(counter: TextTokenCounter, messages: readonly Pick<StoredMessage, "content" | "toolCalls">[]): Promise<number[]> {
  const texts = messages.map(countedTexts);
  const counts = await counter.count(texts.flat());
  let next = 0;
  return texts.map((own) => {
    let total = 0;
    for (let i = 0; i < own.length; i++) total += counts[next++] as number;
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
