import { expect, it } from "vitest";
import { withoutTsLoader } from "../../src/llm/LlamaBackend.ts";

it("drops tsx's loader and the thread-pool preload from execArgv, keeping everything else", () => {
  expect(withoutTsLoader(["--require", "./cli/threadpool.cjs", "--import", "tsx", "--max-old-space-size=4096"])).toEqual(["--max-old-space-size=4096"]);
  // The tsx binary's own flags.
  expect(
    withoutTsLoader(["--require", "/r/node_modules/tsx/dist/preflight.cjs", "--import", "file:///r/node_modules/tsx/dist/loader.mjs", "--enable-source-maps"]),
  ).toEqual(["--enable-source-maps"]);
  expect(withoutTsLoader(["--import=tsx", "--require=/r/cli/threadpool.cjs", "--inspect"])).toEqual(["--inspect"]);
  // Other preloads stay.
  expect(withoutTsLoader(["--import", "./my-hooks.mjs", "--require", "dotenv/config"])).toEqual(["--import", "./my-hooks.mjs", "--require", "dotenv/config"]);
});
