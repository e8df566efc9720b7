import { describe, expect, it } from "vitest";
import { z } from "zod";
import { extractorSchema, writerSchema } from "../../nodes/schemas.ts";
import { zodToGrammarSchema } from "../../src/llm/jsonSchema.ts";

describe("node schemas", () => {
  it("only accept evidence IDs that exist", () => {
    const s = extractorSchema(["S1", "C1"], 3, 1);
    const ok = { patterns: [{ name: "Newtype", category: "type-safety", summary: "Wrap a type for safety.", evidence: ["S1", "C1"] }] };
    expect(s.safeParse(ok).success).toBe(true);
    expect(s.safeParse({ patterns: [{ ...ok.patterns[0], evidence: ["S9"] }] }).success).toBe(false);
    expect(s.safeParse({ patterns: [] }).success).toBe(false);
    expect(extractorSchema(["S1"], 3, 0).safeParse({ patterns: [] }).success).toBe(true);
  });

  it("allow no research citations when research found nothing", () => {
    const s = writerSchema(["C1"], []);
    const draft = {
      summary: "A summary that is long enough to pass.",
      whenToUse: ["when it helps you"],
      whenNotToUse: ["when it does not"],
      pitfalls: [],
      example: "C1",
      sources: [],
    };
    expect(s.safeParse(draft).success).toBe(true);
    expect(s.safeParse({ ...draft, sources: ["W1"] }).success).toBe(false);
    expect(s.safeParse({ ...draft, example: "C2" }).success).toBe(false);
    expect(s.safeParse({ ...draft, example: "none" }).success).toBe(true);
  });
});

describe("zodToGrammarSchema", () => {
  it("keeps what the grammar compiler understands and bounds", () => {
    const g = zodToGrammarSchema(
      z.object({
        a: z.string().min(2).max(5),
        b: z
          .array(z.enum(["x", "y"]))
          .min(1)
          .max(2),
        c: z.union([z.literal("k"), z.null()]),
      }),
    );
    expect(g).toEqual({
      type: "object",
      properties: {
        a: { type: "string", minLength: 2, maxLength: 5 },
        b: { type: "array", items: { type: "string", enum: ["x", "y"] }, minItems: 1, maxItems: 2 },
        c: { oneOf: [{ type: "string", const: "k" }, { type: "null" }] },
      },
      required: ["a", "b", "c"],
    });
  });
});
