import { defineConfig } from "vitest/config";

/**
 * Two tiers, as in node-llama-cpp's own suite: "unit" needs no model and runs in parallel;
 * "model" loads the tiny GGUFs from ../shared/models (and spawns the CLI), one file at a time so
 * runs on a 2-core machine do not fight over the CPU.
 */
export default defineConfig({
  test: {
    globals: true,
    // The default engine ("auto") is llama-server wherever one is built: tests pin the in-process
    // engine so they run the same everywhere; llama-server tests choose it explicitly.
    env: { RUST_KB_BACKEND: "node-llama-cpp" },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: "model",
          include: ["test/model/**/*.test.ts", "test/conformance/**/*.test.ts"],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
