/**
 * The newest `capacity` elements of a conversation, oldest first, for the
 * embedded store. A ring, so trimming the oldest element is O(1) whether the
 * window is full (a push replaces the oldest) or the tool-safe trim drops
 * more from the front; a plain array would move the whole window on every
 * trim. Storage grows with the conversation (doubling, up to `capacity`), so
 * a short conversation costs little and trimmed elements are released at once.
 */
export class RingWindow<T> {
  readonly #capacity: number;
  #items: (T | undefined)[] = [];
  /** Index of the oldest element. */
  #head = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#size;
  }

  /** Appends in order; once full, each new element replaces the oldest. */
  push(items: readonly T[]): void {
    for (const item of items) {
      if (this.#size === this.#items.length && this.#size < this.#capacity) this.#grow();
      if (this.#size === this.#capacity) {
        this.#items[this.#head] = item;
        this.#head = (this.#head + 1) % this.#items.length;
      } else {
        this.#items[(this.#head + this.#size) % this.#items.length] = item;
        this.#size++;
      }
    }
  }

  /** The oldest element, if any. */
  oldest(): T | undefined {
    return this.#size === 0 ? undefined : this.#items[this.#head];
  }

  /** Drops the oldest element. */
  dropOldest(): void {
    if (this.#size === 0) return;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
  }

  /** The newest `limit` elements (all when `limit` is 0 or larger than the window), oldest first. */
  newest(limit: number): T[] {
    const take = limit > 0 && limit < this.#size ? limit : this.#size;
    const out = new Array<T>(take);
    const length = this.#items.length;
    let index = (this.#head + this.#size - take) % (length || 1);
    for (let i = 0; i < take; i++) {
      out[i] = this.#items[index] as T;
      index = index + 1 === length ? 0 : index + 1;
    }
    return out;
  }

  /** Doubles the storage (up to the capacity), laying the elements out from index 0. */
  #grow(): void {
    const grown = new Array<T | undefined>(Math.min(this.#capacity, Math.max(4, this.#items.length * 2)));
    for (let i = 0; i < this.#size; i++) grown[i] = this.#items[(this.#head + i) % this.#items.length];
    this.#items = grown;
    this.#head = 0;
  }
}
