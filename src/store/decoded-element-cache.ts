/**
 * Decoded stored elements, keyed by their exact JSON text. Decoding is a pure
 * function of that text, so a hit can never be stale: whatever Redis returns
 * is still what is served; only the JSON.parse is skipped. Chat windows are
 * read again and again as a conversation grows by a turn (a 40-message window
 * shares 38 elements with the previous read), and JSON.parse was the largest
 * item of GetHistory's profile.
 *
 * Cached messages are frozen: they are shared between calls. Their protobuf
 * bytes are kept in the cache's SharedEncodings by the response encoder
 * (src/service/history-response.ts), so a message read again is encoded once.
 */
import { LRUCache } from "lru-cache";
import { SharedEncodings, type StoredMessage } from "./chat-store.js";
import { decodeStoredMessage, type ElementDecoder, type ElementDecoding, PLAIN_DECODING } from "./message-codec.js";

/** No single element may take more than this fraction of the cache. */
const MAX_ENTRY_FRACTION = 16;

/** Rough bytes per entry beyond the text: the key and the decoded strings, objects and map slots. */
const ENTRY_OVERHEAD_BYTES = 200;

/** Remembers up to `maxBytes` of decoded elements; the least recently used go first. */
export class DecodedElementCache implements ElementDecoding {
  readonly #cache: LRUCache<string, StoredMessage>;
  /** Encodings of the cached messages, kept as long as they are. */
  readonly encodings = new SharedEncodings();

  constructor(maxBytes: number) {
    this.#cache = new LRUCache<string, StoredMessage>({
      maxSize: maxBytes,
      // One huge element (content may be up to CHATMEMORY_MAX_CONTENT_BYTES) must not flush the whole
      // cache; such elements cost their transfer more than their parse anyway.
      maxEntrySize: Math.max(1, Math.floor(maxBytes / MAX_ENTRY_FRACTION)),
      // The text is kept as the key and again, decoded, in the message (one- or two-byte characters).
      sizeCalculation: (_message, raw) => 2 * raw.length + ENTRY_OVERHEAD_BYTES,
    });
  }

  /** An ElementDecoder: the cached message for this exact text, or a fresh decode that is then cached. */
  readonly decode: ElementDecoder = (raw) => {
    const cached = this.#cache.get(raw);
    if (cached !== undefined) return cached;
    const message = decodeStoredMessage(raw);
    // Corrupt elements are not cached: they are rare, and each read should count them.
    if (message === undefined) return undefined;
    if (message.metadata) Object.freeze(message.metadata);
    this.#cache.set(raw, Object.freeze(message));
    return message;
  };

  /** Estimated bytes held (never above the limit). */
  get sizeBytes(): number {
    return this.#cache.calculatedSize;
  }

  get entries(): number {
    return this.#cache.size;
  }
}

/** The decoding for a cache of `maxBytes`; 0 = no cache, JSON.parse on every read. */
export function elementDecoding(maxBytes: number): ElementDecoding {
  return maxBytes > 0 ? new DecodedElementCache(maxBytes) : PLAIN_DECODING;
}
