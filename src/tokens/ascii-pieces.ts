/**
 * tiktoken's pre-tokenization of ASCII-only text, as hand-written scanners: where each piece ends,
 * exactly as the regular expression (with its backtracking) decides, for the two patterns the
 * server's encodings use. A regular expression call costs more than the few char comparisons a
 * piece of prose takes (bench/notes.md, eighth round). Checked against the patterns on random ASCII
 * text in test/token-counter.test.ts; any other pattern keeps the regular expression.
 */

/** From a text's position to where the piece starting there ends (every ASCII char starts one). */
export type AsciiPieceEnd = (text: string, start: number) => number;

const O200K_PATTERN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?" +
  "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?" +
  "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CL100K_PATTERN =
  "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Char classes of ASCII: \s is \t \n \v \f \r and space; \r \n apart, as the patterns treat them apart.
const UPPER = 1;
const LOWER = 2;
const DIGIT = 3;
const NEWLINE = 4;
const SPACE = 5;
const OTHER = 6;

const CLASS = new Uint8Array(128).fill(OTHER);
for (let c = 0; c < 128; c++) {
  if (c >= 0x41 && c <= 0x5a) CLASS[c] = UPPER;
  else if (c >= 0x61 && c <= 0x7a) CLASS[c] = LOWER;
  else if (c >= 0x30 && c <= 0x39) CLASS[c] = DIGIT;
  else if (c === 0x0a || c === 0x0d) CLASS[c] = NEWLINE;
  else if ((c >= 0x09 && c <= 0x0c) || c === 0x20) CLASS[c] = SPACE;
}

const classAt = (text: string, i: number): number => CLASS[text.charCodeAt(i)]!;

/** Where an optional contraction at `at` ('s 't 'm 'd 're 've 'll, any case) ends. */
function afterContraction(text: string, at: number): number {
  if (text.charCodeAt(at) !== 0x27 || at + 1 >= text.length) return at;
  const first = text.charCodeAt(at + 1) | 0x20;
  if (first === 0x73 || first === 0x74 || first === 0x6d || first === 0x64) return at + 2;
  if (at + 2 >= text.length) return at;
  const second = text.charCodeAt(at + 2) | 0x20;
  if (((first === 0x72 || first === 0x76) && second === 0x65) || (first === 0x6c && second === 0x6c)) return at + 3;
  return at;
}

/** `\p{N}{1,3}` at a digit. */
function digitsEnd(text: string, start: number): number {
  let end = start + 1;
  while (end < text.length && end < start + 3 && classAt(text, end) === DIGIT) end++;
  return end;
}

/** ` ?[^\s\p{L}\p{N}]+` then `[\r\n]*` (and `/` when `slash`), or -1 when it does not match. */
function punctuationEnd(text: string, start: number, slash: boolean): number {
  let end = start;
  if (text.charCodeAt(end) === 0x20 && end + 1 < text.length && classAt(text, end + 1) === OTHER) end++;
  if (classAt(text, end) !== OTHER) return -1;
  while (end < text.length && classAt(text, end) === OTHER) end++;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c === 0x0a || c === 0x0d || (slash && c === 0x2f)) end++;
    else break;
  }
  return end;
}

/** `\s*[\r\n]+|\s+(?!\S)|\s+` at a whitespace char. */
function whitespaceEnd(text: string, start: number): number {
  let end = start;
  let lastNewline = -1;
  while (end < text.length) {
    const c = classAt(text, end);
    if (c === NEWLINE) lastNewline = end;
    else if (c !== SPACE) break;
    end++;
  }
  if (lastNewline >= 0) return lastNewline + 1;
  if (end === text.length || end - 1 === start) return end;
  return end - 1;
}

function o200kPieceEnd(text: string, start: number): number {
  const c = classAt(text, start);
  if (c === UPPER || c === LOWER || c === SPACE || c === OTHER) {
    // [^\r\n\p{L}\p{N}]?, then [\p{Lu}]*[\p{Ll}]+ or else [\p{Lu}]+[\p{Ll}]*, then a contraction.
    const letters = c === SPACE || c === OTHER ? start + 1 : start;
    let upperEnd = letters;
    while (upperEnd < text.length && classAt(text, upperEnd) === UPPER) upperEnd++;
    let lowerEnd = upperEnd;
    while (lowerEnd < text.length && classAt(text, lowerEnd) === LOWER) lowerEnd++;
    if (lowerEnd > letters) return afterContraction(text, lowerEnd);
  }
  if (c === DIGIT) return digitsEnd(text, start);
  if (c === SPACE || c === OTHER) {
    const end = punctuationEnd(text, start, true);
    if (end >= 0) return end;
  }
  return whitespaceEnd(text, start);
}

function cl100kPieceEnd(text: string, start: number): number {
  const c = classAt(text, start);
  if (c === OTHER) {
    const end = afterContraction(text, start);
    if (end > start) return end;
  }
  if (c === UPPER || c === LOWER || c === SPACE || c === OTHER) {
    // [^\r\n\p{L}\p{N}]?\p{L}+
    const letters = c === SPACE || c === OTHER ? start + 1 : start;
    let end = letters;
    while (end < text.length) {
      const k = classAt(text, end);
      if (k !== UPPER && k !== LOWER) break;
      end++;
    }
    if (end > letters) return end;
  }
  if (c === DIGIT) return digitsEnd(text, start);
  if (c === SPACE || c === OTHER) {
    const end = punctuationEnd(text, start, false);
    if (end >= 0) return end;
  }
  return whitespaceEnd(text, start);
}

/** The scanner for a tiktoken pattern (its ranks file's pat_str), if it is one of the two known. */
export function asciiPieceEnd(pattern: string): AsciiPieceEnd | undefined {
  if (pattern === O200K_PATTERN) return o200kPieceEnd;
  if (pattern === CL100K_PATTERN) return cl100kPieceEnd;
  return undefined;
}
