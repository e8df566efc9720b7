import os from "node:os";
import { defineConfig } from "vitest/config";

// Test workers are forked from this process and inherit its environment: one libuv pool thread, as
// the npm scripts' cli/threadpool.cjs gives a CPU run, so a model a test loads in process decodes at
// the CLI's speed (four pool threads halve it on 2 cores: docs/PROFILE.md). A value set outside is kept.
process.env.UV_THREADPOOL_SIZE ??= "1";

/**
 * Two tiers, as in node-llama-cpp's own suite: "unit" needs no model; "model" loads the tiny GGUFs
 * from ../shared/models and the project's trained one (and spawns the CLI). The unit tier runs first,
 * then the model tier, each on every core: vitest's default (one worker fewer than the cores) ran
 * the whole suite in a single worker on the 2-core machines this project is tested on. A model file
 * decodes on one thread (RUST_KB_THREADS=1 unless a test passes --threads), so two files side by side
 * share two cores without llama.cpp's threads waiting on each other.
 */
export default defineConfig({
  test: {
    globals: true,
    maxWorkers: Math.max(2, os.availableParallelism()),
    // The default engine ("auto") is llama-server wherever one is built: tests pin the in-process
    // engine so they run the same everywhere; llama-server tests choose it explicitly.
    env: { RUST_KB_BACKEND: "node-llama-cpp", RUST_KB_THREADS: "1" },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          sequence: { groupOrder: 0 },
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: "model",
          include: ["test/model/**/*.test.ts", "test/conformance/**/*.test.ts"],
          // After the unit tier, never beside it (the rust sandbox tests and the models would share the cores).
          sequence: { groupOrder: 1 },
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
