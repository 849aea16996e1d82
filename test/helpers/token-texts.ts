/**
 * Deterministic texts for the token counter's tests and benchmark: the hostile cases (one unbroken
 * run, base64) and the ordinary ones (prose, a chat message).
 */
import { createHash } from "node:crypto";

/** `chars` chars of base64 of pseudo-random bytes (the same for the same seed). */
export function base64Text(chars: number, seed = "chatmemory"): string {
  const blocks: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; bytes * 4 < chars * 3 + 4; i++) {
    const block = createHash("sha512").update(`${seed}:${i}`).digest();
    blocks.push(block);
    bytes += block.length;
  }
  return Buffer.concat(blocks).toString("base64").slice(0, chars);
}

const PROSE =
  "The committee met on Tuesday to review the quarterly figures. Revenue rose 3.5% (again!), " +
  "while costs fell slightly; nobody expected that. \"It's a good sign,\" said Dr. Okafor, " +
  "who'd argued for the new plan since 2019.\n\nNext steps: ship v2.1, hire two engineers, and " +
  "revisit pricing in Q3. Questions? Ask in #planning or e-mail ops@example.com.\n";

export function proseText(chars: number): string {
  return PROSE.repeat(Math.ceil(chars / PROSE.length)).slice(0, chars);
}

/** A typical short chat message (200 bytes of UTF-8). */
export const CHAT_MESSAGE =
  "Hi! Could you summarize yesterday's meeting notes for me? I need the action items, owners and " +
  "due dates, especially anything about the Q3 launch. Thanks a lot, I owe you one (again). See you at 10:30!";
