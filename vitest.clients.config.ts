import { defineConfig } from "vitest/config";

/**
 * The polyglot interop test (clients/*.test.ts), run by scripts/test-clients.sh against the live
 * server it starts: not part of `npm test`, which needs no Go or Python.
 */
export default defineConfig({
  test: {
    include: ["clients/**/*.test.ts"],
    testTimeout: 60_000,
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest-clients.json" },
  },
});
