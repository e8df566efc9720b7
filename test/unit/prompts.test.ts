import { describe, expect, it } from "vitest";
import { PromptLibrary } from "../../src/prompts/PromptLibrary.ts";

describe("PromptLibrary", () => {
  const lib = PromptLibrary.fromTemplates({ greet: "Hello {{name}}, {{ count }} items" });

  it("fills named placeholders", () => {
    expect(lib.render("greet", { name: "Ann", count: 3 })).toBe("Hello Ann, 3 items");
  });
  it("fails on a missing value", () => {
    expect(() => lib.render("greet", { name: "Ann" })).toThrow(/missing value for \{\{count\}\}/);
  });
  it("fails on a value with no placeholder", () => {
    expect(() => lib.render("greet", { name: "A", count: 1, extra: "x" })).toThrow(/no placeholder for extra/);
  });
  it("never expands placeholders inside values", () => {
    expect(lib.render("greet", { name: "{{count}}", count: 1 })).toBe("Hello {{count}}, 1 items");
  });
  it("loads the repository's prompts and every node prompt renders with its node's variables", () => {
    const repo = PromptLibrary.load();
    // Every per-file role's prompt starts with the same file context (a prefix the KV cache keeps).
    expect(repo.placeholders("file.context")).toEqual(["path", "title", "units"]);
    expect(repo.placeholders("file.system")).toEqual([]);
    expect(repo.placeholders("extractor.user")).toEqual(["categories", "file", "maxPatterns"]);
    expect(repo.placeholders("writer.user")).toEqual(["feedback", "file", "path", "patterns", "sources"]);
    expect(repo.placeholders("researcher.user")).toEqual(["file", "patterns", "sources"]);
    expect(repo.placeholders("validator.user")).toEqual(["entries", "file"]);
    for (const role of ["extractor", "writer", "researcher", "validator"])
      expect(repo.render(`${role}.user`, Object.fromEntries(repo.placeholders(`${role}.user`).map((p) => [p, "x"]))).startsWith("x\n")).toBe(true);
    expect(repo.hash).toMatch(/^[0-9a-f]{16}$/);
  });
});
