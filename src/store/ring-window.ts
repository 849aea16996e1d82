/**
 * The newest `capacity` elements of a conversation, oldest first, for the
 * embedded store. A ring, so trimming the oldest element is O(1): the plain
 * array it replaces paid a splice(0, n) (moving the whole window) on every
 * append once a conversation was full, which took ~8% of the server's CPU at a
 * 1000-message window. Grows with the conversation; never holds more than
 * `capacity` elements, so trimmed ones are released at once.
 */
export class RingWindow<T> {
  readonly #capacity: number;
  readonly #items: T[] = [];
  /** Index of the oldest element once the ring is full (0 until then). */
  #start = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Appends in order; once full, each new element replaces the oldest. */
  push(items: readonly T[]): void {
    for (const item of items) {
      if (this.#items.length < this.#capacity) {
        this.#items.push(item);
      } else {
        this.#items[this.#start] = item;
        this.#start = this.#start + 1 === this.#capacity ? 0 : this.#start + 1;
      }
    }
  }

  /** The newest `limit` elements (all when `limit` is 0 or larger than the window), oldest first. */
  newest(limit: number): T[] {
    const size = this.#items.length;
    const take = limit > 0 && limit < size ? limit : size;
    const out = new Array<T>(take);
    let index = (this.#start + size - take) % size || 0;
    for (let i = 0; i < take; i++) {
      out[i] = this.#items[index] as T;
      index = index + 1 === size ? 0 : index + 1;
    }
    return out;
  }
}
