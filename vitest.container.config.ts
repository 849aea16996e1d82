import { defineConfig } from "vitest/config";

/** The container image, run with podman: `npm run test:container` (after the image is built; see .ci/run). */
export default defineConfig({
  test: {
    include: ["test-container/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest-container.json" },
  },
});
