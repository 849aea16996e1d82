import { defineConfig } from "vitest/config";

/**
 * Running behind a proxy: `npm run test:mesh` (nginx from Debian, grpc-health-probe from
 * `npm run tools`, redis-server; the built server), and tracing a Go caller's trace (Go; the
 * client module's dependencies from the Go module proxy). Each file starts its own processes.
 */
export default defineConfig({
  test: {
    include: ["test-mesh/**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: "forks",
    // One file at a time: restarts under load on a 2-core machine.
    fileParallelism: false,
    reporters: ["default", "json"],
    outputFile: { json: "test-results/vitest-mesh.json" },
  },
});
