import { defineConfig } from "vitest/config";

// Test workers are forked from this process and inherit its environment: one libuv pool thread, as
// the npm scripts' cli/threadpool.cjs gives a CPU run, so a model a test loads in process decodes at
// the CLI's speed (four pool threads halve it on 2 cores: docs/PROFILE.md). A value set outside is kept.
process.env.UV_THREADPOOL_SIZE ??= "1";

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
          // The unit tier first, on every core; then the model tier alone (below).
          sequence: { groupOrder: 0 },
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: "model",
          include: ["test/model/**/*.test.ts", "test/conformance/**/*.test.ts"],
          fileParallelism: false,
          // After the unit tier, never beside it: llama.cpp's threads wait on each other, and a model
          // test sharing 2 cores with unit workers ran several times slower.
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
