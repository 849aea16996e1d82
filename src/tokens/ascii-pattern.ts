/**
 * tiktoken's pre-tokenization pattern restricted to ASCII text. Its Unicode property classes
 * (\p{L}, \p{Lu}, \p{N}, ...) need the `u` flag, which makes V8's matcher markedly slower; on a
 * text with no char above U+007F each class matches exactly its ASCII members, so the pattern
 * with each class replaced by those members (and without `u`) splits the text into the same
 * pieces. Checked against the Unicode pattern on random ASCII text in test/token-counter.test.ts.
 */

/** The ASCII members of the property classes tiktoken's patterns use; "" = none. */
const ASCII_MEMBERS: Record<string, string> = {
  L: "A-Za-z",
  Lu: "A-Z",
  Ll: "a-z",
  Lt: "",
  Lm: "",
  Lo: "",
  M: "",
  N: "0-9",
};

/**
 * The pattern's source with every \p{X} replaced by its ASCII members (a class of them outside
 * brackets); undefined when it uses anything else that depends on `u` (\P{X}, \u{...}, an
 * unknown class), so the caller keeps the Unicode pattern.
 */
export function asciiPatternSource(source: string): string | undefined {
  let out = "";
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === "\\") {
      const property = /^\\p\{(\w+)\}/.exec(source.slice(i));
      if (property) {
        const members = ASCII_MEMBERS[property[1] as string];
        if (members === undefined) return undefined;
        out += inClass ? members : `[${members}]`;
        i += property[0].length - 1;
        continue;
      }
      const next = source[i + 1];
      if (next === "P" || next === "u" || next === "x" || next === "c" || next === "k" || next === undefined) return undefined;
      out += char + next;
      i++;
      continue;
    }
    if (char === "[" && !inClass) inClass = true;
    else if (char === "]" && inClass) inClass = false;
    out += char;
  }
  return out;
}
