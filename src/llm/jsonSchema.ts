import { z } from "zod";

/** The JSON Schema subset node-llama-cpp's grammar compiler understands (GbnfJsonSchema). */
export type GrammarSchema = Record<string, unknown>;

const KEEP = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "enum",
  "const",
  "oneOf",
  "minLength",
  "maxLength",
  "description",
  "$defs",
  "$ref",
]);

/**
 * Turns a zod schema into the JSON Schema subset that node-llama-cpp compiles to a grammar.
 * Constraints the grammar cannot express (patterns, numeric ranges, refinements) are dropped here
 * and enforced afterwards by the zod parse, which is why every object is parsed again.
 */
export function zodToGrammarSchema(schema: z.ZodType): GrammarSchema {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", unrepresentable: "any", io: "input" });
  return clean(json) as GrammarSchema;
}

function clean(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(clean);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if (key === "anyOf") {
      out.oneOf = clean(value);
      continue;
    }
    if (!KEEP.has(key)) continue;
    if (key === "properties" || key === "$defs") {
      const props: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(value as Record<string, unknown>)) props[name] = clean(sub);
      out[key] = props;
      continue;
    }
    out[key] = clean(value);
  }
  return out;
}
