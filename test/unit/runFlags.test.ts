import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { EVAL_HELP, parseEvalArgs } from "../../src/commands/eval/parseEvalArgs.ts";
import { GRAPH_FLAGS, GRAPH_HELP } from "../../src/commands/graph/parseGraphArgs.ts";
import { renderFlagDocs } from "../../src/commands/renderFlagDocs.ts";
import { RUN_FLAGS, type RunFlag, runFlagKeys } from "../../src/commands/runFlags.ts";
import { STUDIO_HELP, STUDIO_RUN_FLAGS } from "../../src/commands/studio/parseStudioArgs.ts";

const flags = runFlagKeys().map((key) => [key, RUN_FLAGS[key] as RunFlag<unknown>] as const);

describe("run flags, declared once in src/commands/runFlags.ts", () => {
  it("the README's options table is the one the flags make (npm run docs:flags writes it)", () => {
    const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    expect(renderFlagDocs(readme)).toBe(readme);
    for (const [, flag] of flags) expect(readme).toContain(`| \`--${flag.name}`);
  });

  it("every flag is in the graph command's help, and eval's help names the ones it hands on", () => {
    for (const [, flag] of flags) {
      expect(GRAPH_HELP).toMatch(new RegExp(`^  --${flag.name}( |$)`, "m"));
      if (flag.eval === false) expect(EVAL_HELP).toContain(`--${flag.name} is accepted and ignored`);
      else expect(EVAL_HELP).toMatch(new RegExp(`--${flag.name}[,.]`));
    }
  });

  it("eval hands every value flag on with its value, written apart or with =", () => {
    for (const [key, flag] of flags.filter(([k, f]) => f.arg && k !== "input" && k !== "maxTokens")) {
      const value = key === "research" ? "docs" : key === "apiKeyEnv" ? "KEY" : key === "endpoints" ? "http://a:1" : "7";
      for (const argv of [[`--${flag.name}`, value], [`--${flag.name}=${value}`]]) {
        const r = parseEvalArgs(["--input", "in", "--labels", "l.json", ...argv]);
        expect(r.kind, `${argv.join(" ")}: ${r.kind === "error" ? r.message : ""}`).toBe("run");
      }
    }
  });

  it("Studio parses exactly the flags marked for it, and its help names them", () => {
    const marked = flags.filter(([, f]) => f.studio).map(([, f]) => f.name);
    expect(Object.keys(STUDIO_RUN_FLAGS.config).sort()).toEqual([...marked].sort());
    for (const name of marked) expect(STUDIO_HELP).toContain(`[--${name} `);
  });

  it("an absent flag leaves its option to the run unless it has a fallback", () => {
    const none = GRAPH_FLAGS.read({ input: "x" });
    expect(none).toEqual({ input: "x", out: "./kb", db: "checkpoints/runs.sqlite", resume: false, llmReview: true, maxFileMb: 8, json: false });
  });
});
