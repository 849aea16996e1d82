/** The embedded store's ring against a plain array model: same newest elements, in order, for any pushes and limits. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RingWindow } from "../src/store/ring-window.js";

describe("RingWindow", () => {
  it("keeps the newest `capacity` elements in order, like push + splice on an array, with drops from the front", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.tuple(fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 4 })), { maxLength: 30 }),
        (capacity, steps) => {
          const ring = new RingWindow<number>(capacity);
          let model: number[] = [];
          for (const [batch, limit, drops] of steps) {
            ring.push(batch);
            model = [...model, ...batch].slice(-capacity);
            for (let i = 0; i < drops; i++) {
              expect(ring.oldest()).toBe(model[0]);
              ring.dropOldest();
              model = model.slice(1);
            }
            expect(ring.length).toBe(model.length);
            expect(ring.newest(limit)).toEqual(limit > 0 ? model.slice(-limit) : model);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("rejects a capacity below 1", () => {
    expect(() => new RingWindow(0)).toThrow(RangeError);
  });
});
