/**
 * The last decoded read of each window (list key and range), kept with the
 * exact bytes Redis returned for it, element by element. A new read is
 * compared with it (one memcmp per element): the same bytes return the kept
 * result; a window that moved on by a few messages (a turn appended, the
 * oldest trimmed) reuses the decoded messages it shares with the kept one and
 * decodes only the new ones. Nothing can be stale: every message served is the
 * decoding of exactly the bytes Redis returned just now.
 *
 * Why: many replicas and agent steps read the same window, and each turn moves
 * it by a message or two. The string path spends its time turning every reply
 * into a JS string (UTF-8 decode) and hashing it for the element cache; a
 * Buffer compare does neither (bench/notes.md has the measurements).
 *
 * Results are frozen (array and messages) and shared between reads: the
 * store marks them so (`sharing.window`), and the response encoder keeps a
 * window's encoded bytes in the element cache's SharedEncodings.
 */
import { LRUCache } from "lru-cache";
import type { SharedEncodings, StoredMessage } from "./chat-store.js";
import type { ElementDecoder } from "./message-codec.js";

/** A decoded window: its messages (frozen, shared between reads) and how many elements were corrupt. */
export interface DecodedWindow {
  readonly messages: readonly StoredMessage[];
  readonly skipped: number;
}

/** No single window may take more than this fraction of the cache. */
const MAX_ENTRY_FRACTION = 16;

/** Rough bytes per window beyond its elements: the key, arrays and the result object. */
const ENTRY_OVERHEAD_BYTES = 200;
const ELEMENT_OVERHEAD_BYTES = 100;

/** How far a window may have moved since it was kept (messages appended and trimmed) and still be matched. */
const MAX_SHIFT = 64;

interface WindowEntry {
  /** The elements as Redis returned them, copied (a reply's Buffers may share its socket chunk). */
  elements: Buffer[];
  /** Each element decoded; undefined for a corrupt one. */
  decoded: (StoredMessage | undefined)[];
  result: DecodedWindow;
}

/**
 * The number of kept elements the window has dropped from its front, when everything else kept is
 * still there, in order, at the start of `raw` (anything after it is new); -1 when no such shift
 * up to MAX_SHIFT exists. 0 with equal lengths means the same window.
 */
function keptShift(kept: readonly Buffer[], raw: readonly Buffer[]): number {
  for (let shift = 0; shift < kept.length && shift <= MAX_SHIFT; shift++) {
    const overlap = kept.length - shift;
    if (overlap > raw.length) continue;
    let index = 0;
    while (index < overlap && (raw[index] as Buffer).equals(kept[shift + index] as Buffer)) index++;
    if (index === overlap) return shift;
  }
  return -1;
}

export class WindowCache {
  readonly #cache: LRUCache<string, WindowEntry>;
  readonly #decode: ElementDecoder;
  readonly #encodings: SharedEncodings;

  /** Decodes through an element cache (its messages are shared, so the windows made of them can be). */
  constructor(maxBytes: number, elements: { decode: ElementDecoder; encodings: SharedEncodings }) {
    this.#decode = elements.decode;
    this.#encodings = elements.encodings;
    this.#cache = new LRUCache<string, WindowEntry>({
      maxSize: maxBytes,
      maxEntrySize: Math.max(1, Math.floor(maxBytes / MAX_ENTRY_FRACTION)),
      // Each element is held twice: its bytes here and its decoded strings (shared with the element cache).
      sizeCalculation: ({ elements }) =>
        elements.reduce((sum, element) => sum + 2 * element.length + ELEMENT_OVERHEAD_BYTES, ENTRY_OVERHEAD_BYTES),
    });
  }

  /** Where the element cache keeps the encodings of the messages these windows share. */
  get encodings(): SharedEncodings {
    return this.#encodings;
  }

  /** The decoded window for `raw`, the reply of the range named by `windowKey`. */
  read(windowKey: string, raw: readonly Buffer[]): DecodedWindow {
    const kept = this.#cache.get(windowKey);
    const shift = kept === undefined ? -1 : keptShift(kept.elements, raw);
    if (kept !== undefined && shift === 0 && kept.elements.length === raw.length) return kept.result;
    const reused = kept === undefined || shift < 0 ? 0 : kept.elements.length - shift;
    const elements: Buffer[] = new Array<Buffer>(raw.length);
    const decoded: (StoredMessage | undefined)[] = new Array<StoredMessage | undefined>(raw.length);
    for (let index = 0; index < raw.length; index++) {
      if (index < reused && kept !== undefined) {
        elements[index] = kept.elements[shift + index] as Buffer;
        decoded[index] = kept.decoded[shift + index];
      } else {
        const element = raw[index] as Buffer;
        elements[index] = Buffer.from(element);
        decoded[index] = this.#decode(element.toString("utf8"));
      }
    }
    const messages = decoded.filter((message): message is StoredMessage => message !== undefined);
    const result: DecodedWindow = Object.freeze({ messages: Object.freeze(messages), skipped: raw.length - messages.length });
    // An empty window costs nothing to read again.
    if (raw.length > 0) this.#cache.set(windowKey, { elements, decoded, result });
    return result;
  }

  /** Estimated bytes held (never above the limit). */
  get sizeBytes(): number {
    return this.#cache.calculatedSize;
  }

  get entries(): number {
    return this.#cache.size;
  }
}
