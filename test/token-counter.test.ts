/**
 * The token counter (src/tokens/): exactly js-tiktoken's `encode(text, [], []).length` (tiktoken's
 * count, special-token text as ordinary text) under both encodings, fast on hostile input, and the
 * event loop free while a big text is counted in a worker. Needs `npm run build` (the worker
 * script is the compiled one); `npm test` builds first.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import fc from "fast-check";
import { Tiktoken } from "js-tiktoken/lite";
import cl100k from "js-tiktoken/ranks/cl100k_base";
import o200k from "js-tiktoken/ranks/o200k_base";
import { afterAll, describe, expect, it } from "vitest";
import { countTokens, createTokenCounter, TOKEN_ENCODINGS, type TokenCounter, type TokenEncoding } from "../src/tokens/token-counter.js";
import { asciiPatternSource } from "../src/tokens/ascii-pattern.js";
import { loadBpe } from "../src/tokens/encodings.js";
import { tokensForAppend, tokensForAppendNow } from "../src/service/token-budget.js";
import { base64Text, CHAT_MESSAGE, proseText } from "./helpers/token-texts.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const reference: Record<TokenEncoding, Tiktoken> = { o200k_base: new Tiktoken(o200k), cl100k_base: new Tiktoken(cl100k) };
const referenceCount = (encoding: TokenEncoding, text: string): number => reference[encoding].encode(text, [], []).length;

const FIXED_TEXTS = [
  "",
  " ",
  "a",
  "hello world",
  CHAT_MESSAGE,
  "Hello, World! How's it going? I'm fine; they're here, we've won, you'll see, he'd go.",
  "HELLO WORLD'S END, IT'S DONE. McDonald's iPhone XMLHttpRequest camelCaseWords snake_case_words",
  "日本語のテキストです。東京は晴れ。中文文本测试，标点符号！한국어 텍스트입니다.",
  "Ελληνικά κείμενα, русский текст, עברית, العربية, हिन्दी पाठ, ไทย ภาษา, Tiếng Việt",
  "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇫🇷🇩🇪 flags, ❤️‍🔥, 🧑🏻‍💻 coder",
  "e\u0301 combining, a\u0308\u0304 stacked, Zalgo: Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334",
  "function add(a: number, b: number): number {\n  return a + b; // sum\n}\n\nconst x = add(1, 2);\n",
  "def f(x):\n\treturn [i ** 2 for i in range(x) if i % 2 == 0]\n",
  '{"key": "value", "list": [1, 2.5, -3e10], "nested": {"a": null, "b": true}}',
  "<div class=\"x\">Text &amp; more</div>\r\n<script>alert('hi')</script>",
  "SELECT * FROM users WHERE id = 42 AND name LIKE '%o''brien%';",
  "    \n\n\n    \t\t  x  \r\n\r\n   ",
  "1234567890 3.14159265 1,000,000 0xDEADBEEF 1e-9 ٣٤٥ ¼ ½ Ⅻ",
  "<|endoftext|> and <|endofprompt|> are plain text here",
  "lone \ud800 high, lone \udfff low, reversed \udc00\ud800, end \ud83d",
  "\u0000\u0001\u001f\u007f control chars \ufeff BOM \u200b zero width",
  "https://example.com/path?query=1&other=two#fragment ops@example.com",
  // Equal-rank pairs: only leftmost-first merging (tiktoken's tie rule) counts these right.
  "+rrr",
  "/Dszzz",
  "a".repeat(1000),
  "A".repeat(700),
  "ab".repeat(400),
  "語".repeat(300),
  " ".repeat(500) + "x",
  "\n".repeat(300),
  "!".repeat(300),
  "7".repeat(301),
  base64Text(4096),
  proseText(8192),
];

describe("countTokens matches js-tiktoken", () => {
  for (const encoding of TOKEN_ENCODINGS) {
    it(`fixed texts in many scripts, ${encoding}`, () => {
      for (const text of FIXED_TEXTS) expect(countTokens(encoding, text), JSON.stringify(text.slice(0, 60))).toBe(referenceCount(encoding, text));
    });
  }

  // Fragments that exercise every branch of the split patterns, glued at random.
  const fragment = fc.oneof(
    fc.constantFrom(" ", "  ", "\n", "\r\n", "\t", " \n ", "'s", "'LL", "'re", "’s", ".", "...", "!?", "()", "{}", "=>", "//", "#", "$", "%"),
    fc.constantFrom("the", "The", "THE", "hello", "World", "iPhone", "naïve", "Straße", "ÉCOLE", "мир", "Σίσυφος"),
    fc.constantFrom("日本", "語", "中文", "한국어", "ไทย", "ए", "😀", "👨‍👩‍👧", "🏳️‍🌈", "👍🏽", "\u0301", "\u200d", "\ufe0f"),
    fc.integer({ min: 0, max: 1_000_000 }).map(String),
    fc.string({ unit: "grapheme", maxLength: 8 }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 6 }),
    fc.string({ unit: fc.constantFrom("a", "b", "e", "r", "s", "t", "A", "Z", "0", "1", "+", "/", "="), maxLength: 24 }),
  );
  const mixedText = fc.array(fragment, { maxLength: 40 }).map((parts) => parts.join(""));
  // One unbroken run up to 1.5 KiB: the case the O(n log n) merge exists for (js-tiktoken is quadratic in it).
  const longRun = fc
    .tuple(fc.string({ unit: fc.constantFrom("a", "b", "c", "e", "t", "x", "語", "é"), minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 300 }))
    .map(([unit, times]) => unit.repeat(times).slice(0, 1536));

  for (const encoding of TOKEN_ENCODINGS) {
    it(`random mixed texts (code, CJK, emoji, ZWJ, whitespace, numbers, lone surrogates), ${encoding}`, () => {
      fc.assert(fc.property(mixedText, (text) => countTokens(encoding, text) === referenceCount(encoding, text)), { numRuns: 1500 });
    });
    it(`arbitrary UTF-16 (lone surrogates included), ${encoding}`, () => {
      const anyUnits = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 64 });
      const anyCodePoints = fc.string({ unit: "binary", maxLength: 64 });
      fc.assert(fc.property(fc.oneof(anyUnits, anyCodePoints), (text) => countTokens(encoding, text) === referenceCount(encoding, text)), { numRuns: 1000 });
    });
    it(`ASCII-only texts (the ASCII pattern's path), and the same pieces as the Unicode pattern, ${encoding}`, () => {
      const bpe = loadBpe(encoding);
      expect(asciiPatternSource(bpe.pattern.source), "the pattern has an ASCII form").toBeDefined();
      const pieces = (pattern: RegExp, text: string) => [...text.matchAll(new RegExp(pattern.source, "g" + pattern.flags.replace(/[gy]/g, "")))].map((m) => m[0]);
      const asciiUnit = fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c));
      const asciiFragment = fc.oneof(
        fc.constantFrom(" ", "  ", "\n", "\r\n", "\t", "\v\f", "'s", "'S", "'LL", "'re", "'", ".", "...", "!?", "()", "=>", "//", "\n/", "\x00", "\x7f"),
        fc.constantFrom("the", "The", "THE", "hello", "World", "iPhone", "McDonald's", "XMLHttp", "snake_case", "x1y2"),
        fc.integer({ min: 0, max: 10_000_000 }).map(String),
        fc.string({ unit: asciiUnit, maxLength: 12 }),
      );
      const asciiText = fc.array(asciiFragment, { maxLength: 40 }).map((parts) => parts.join(""));
      fc.assert(
        fc.property(asciiText, (text) => {
          expect(pieces(bpe.asciiPieces, text)).toEqual(pieces(bpe.pattern, text));
          return countTokens(encoding, text) === referenceCount(encoding, text);
        }),
        { numRuns: 1500 },
      );
    });
    it(`long unbroken runs and base64, ${encoding}`, () => {
      const base64 = fc.tuple(fc.string({ maxLength: 8 }), fc.integer({ min: 1, max: 4096 })).map(([seed, chars]) => base64Text(chars, seed));
      fc.assert(fc.property(fc.oneof(longRun, base64), (text) => countTokens(encoding, text) === referenceCount(encoding, text)), { numRuns: 60 });
    });
  }
});

describe("the piece memo", () => {
  it("keeps counts exact through many more distinct pieces than it holds (filled and cleared again and again)", () => {
    // 20,000 distinct short words, each a piece: the memo (4096 entries) is cleared several times per pass.
    const text = Array.from({ length: 20_000 }, (_, i) => ` w${(i * 7919).toString(36)}q`).join("");
    for (const encoding of TOKEN_ENCODINGS) {
      const expected = referenceCount(encoding, text);
      expect(countTokens(encoding, text)).toBe(expected);
      expect(countTokens(encoding, text)).toBe(expected);
      // A part of it again: its words' counts now come from the memo.
      const words = text.slice(0, 4000);
      expect(countTokens(encoding, words)).toBe(referenceCount(encoding, words));
    }
  });
});

describe("tokensForAppendNow (the Append path's inline counts)", () => {
  const counter = createTokenCounter("o200k_base", { offloadAboveChars: 64 });
  afterAll(() => counter.close());
  const call = { id: "c1", type: "function", name: "get_weather", arguments: '{"city":"Paris"}' };

  it("gives tokensForAppend's counts when the texts fit the inline budget, without a promise", async () => {
    const batches = [
      [{ content: "Hello, world!" }],
      [{ content: "checking", toolCalls: [call] }, { content: "" }],
      [{ content: "a".repeat(32) }, { content: "b".repeat(32) }],
    ];
    for (const messages of batches) {
      const now = tokensForAppendNow(counter, messages);
      expect(Array.isArray(now)).toBe(true);
      expect(now).toEqual(await tokensForAppend(counter, messages));
    }
    expect(tokensForAppendNow(counter, [{ content: "checking", toolCalls: [call] }])).toEqual([
      { o200k_base: referenceCount("o200k_base", "checking") + referenceCount("o200k_base", call.name) + referenceCount("o200k_base", call.arguments) },
    ]);
  });

  it("leaves texts beyond the inline budget (one long text, or many short ones) to tokensForAppend", async () => {
    expect(tokensForAppendNow(counter, [{ content: "x".repeat(65) }])).toBeUndefined();
    expect(tokensForAppendNow(counter, [{ content: "x".repeat(40) }, { content: "y".repeat(25) }])).toBeUndefined();
    expect(tokensForAppendNow(counter, [{ content: "x", toolCalls: [{ ...call, arguments: "z".repeat(60) }] }])).toBeUndefined();
    expect(await tokensForAppend(counter, [{ content: "x".repeat(65) }])).toEqual([{ o200k_base: referenceCount("o200k_base", "x".repeat(65)) }]);
  });

  it("throws once the counter is closed, as count rejects", async () => {
    const closing = createTokenCounter("o200k_base");
    await closing.close();
    expect(() => closing.countNow("x")).toThrow(/closed/);
    await expect(closing.count(["x"])).rejects.toThrow(/closed/);
  });
});

describe("createTokenCounter", () => {
  const counters: TokenCounter[] = [];
  const counter = (encoding: TokenEncoding, options?: Parameters<typeof createTokenCounter>[1]): TokenCounter => {
    const created = createTokenCounter(encoding, options);
    counters.push(created);
    return created;
  };
  afterAll(async () => {
    await Promise.all(counters.map((c) => c.close()));
  });

  it("counts inline and in workers alike, in order", async () => {
    const texts = [...FIXED_TEXTS, "x".repeat(20_000), base64Text(30_000)];
    for (const encoding of TOKEN_ENCODINGS) {
      const expected = texts.map((text) => countTokens(encoding, text));
      expect(await counter(encoding).count(texts)).toEqual(expected);
      expect(await counter(encoding, { offloadAboveChars: 0, workers: 2 }).count(texts)).toEqual(expected);
      expect(await counter(encoding, { offloadAboveChars: 100, workers: 1 }).count(texts)).toEqual(expected);
    }
  });

  it("never rejects for any string", async () => {
    const c = counter("o200k_base", { offloadAboveChars: 16 });
    const texts = ["", "\ud800", "\udc00\ud800".repeat(50), "<|endoftext|>".repeat(10), "\u0000".repeat(100), "\uffff\ufffe", "a\u0301".repeat(40)];
    const counts = await c.count(texts);
    expect(counts).toEqual(texts.map((text) => referenceCount("o200k_base", text)));
    expect(await c.count([])).toEqual([]);
  });

  it("512 KiB of one letter and of base64 take seconds at most, and the event loop keeps ticking", async () => {
    const c = counter("o200k_base");
    const texts = ["a".repeat(512 * 1024), base64Text(512 * 1024)];
    // Inline counts (and this thread's rank loading) before the timer starts: the expected values.
    const expected = texts.map((text) => countTokens("o200k_base", text));
    expect(expected[0]).toBe(65_536);
    for (const [i, text] of texts.entries()) {
      let last = performance.now();
      let maxGap = 0;
      let ticks = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 10);
      const start = performance.now();
      const [n] = await c.count([text]);
      const took = performance.now() - start;
      clearInterval(timer);
      expect(n).toBe(expected[i]);
      expect(took).toBeLessThan(10_000);
      // Other callers are not held up: the timer fired throughout, never stalled.
      expect(maxGap).toBeLessThan(100);
      expect(ticks).toBeGreaterThan(0);
    }
  });

  it("close() ends the workers: a process that counted in workers exits on its own", async () => {
    const script = `
      import { createTokenCounter } from "./dist/src/tokens/token-counter.js";
      const counter = createTokenCounter("cl100k_base", { offloadAboveChars: 0, workers: 2 });
      const counts = await counter.count(["hello world", "a".repeat(50000), "語".repeat(10000)]);
      await counter.close();
      await counter.count(["x"]).then(() => console.log("count after close resolved"), () => console.log("closed"));
      console.log(counts.join(","));
    `;
    const started = performance.now();
    const { stdout } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: root, timeout: 20_000 });
    expect(stdout.trim().split("\n")).toEqual(["closed", `2,${countTokens("cl100k_base", "a".repeat(50000))},${countTokens("cl100k_base", "語".repeat(10000))}`]);
    // Well before the workers' idle timeout (60 s): close(), not idleness, let the process end.
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it("rejects an unknown encoding and bad options at creation", () => {
    expect(() => createTokenCounter("p50k_base" as TokenEncoding)).toThrow(/unknown token encoding/);
    expect(() => createTokenCounter("o200k_base", { workers: 0 })).toThrow(/workers/);
    expect(() => createTokenCounter("o200k_base", { offloadAboveChars: -1 })).toThrow(/offloadAboveChars/);
  });
});
