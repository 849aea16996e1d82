/**
 * The worker-thread side of the token counter (run by piscina): counts a batch of texts with the
 * same code as the inline path. Ranks load on this thread's first task and stay for its life.
 */
import { countTokens } from "./count-tokens.js";
import { isTokenEncoding, type TokenEncoding } from "./encodings.js";

export interface CountTask {
  encoding: TokenEncoding;
  texts: string[];
}

export default function countTask(task: CountTask): number[] {
  if (!isTokenEncoding(task.encoding)) throw new Error(`unknown token encoding: ${String(task.encoding)}`);
  return task.texts.map((text) => countTokens(task.encoding, text));
}
