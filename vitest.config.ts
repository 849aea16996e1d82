import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // Real servers and processes: give slow shared machines room.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // The JSON report lets .ci/run print a one-line "N passed, N failed" summary.
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest.json" },
  },
});
