import { defineConfig } from "vitest/config";

/** The minutes-long fault, chaos and fuzz suites: `npm run test:faults`. Each file starts its own Redis. */
export default defineConfig({
  test: {
    include: ["test-faults/**/*.test.ts"],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One file at a time: these tests measure timing under load on a 2-core machine.
    fileParallelism: false,
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest-faults.json" },
  },
});
