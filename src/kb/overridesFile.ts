import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { UserError } from "../errors.ts";
import { writeFileAtomic } from "../util/atomicWrite.ts";
import type { Overrides } from "./resolve.ts";

/** User-edited decisions that beat the matcher, in the knowledge-base directory. */
export const OVERRIDES_FILE = "kb-overrides.json";

const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

const OverridesSchema = z
  .object({
    merge: z.array(z.tuple([z.string(), z.string()])).default([]),
    separate: z.array(z.tuple([z.string(), z.string()])).default([]),
    aliases: z.record(z.string(), z.string()).default({}),
  })
  .strict();

/** The overrides file of the knowledge base in `outDir` (empty when there is none). */
export function readOverrides(outDir: string): Overrides {
  const file = path.join(outDir, OVERRIDES_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return { merge: [], separate: [], aliases: {} };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError("CONFIG_INVALID", `${file} is not valid JSON: ${(e as Error).message}`, "Fix the file or delete it (see docs/KNOWLEDGE-BASE.md).");
  }
  const parsed = OverridesSchema.safeParse(raw);
  if (!parsed.success)
    throw new UserError(
      "CONFIG_INVALID",
      `${file} is not a valid overrides file: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
      'Expected {"merge": [["draftA", "draftB"]], "separate": [["draftA", "draftB"]], "aliases": {"alias": "Canonical name"}} (see docs/KNOWLEDGE-BASE.md).',
    );
  return parsed.data;
}

/** Writes the overrides file of the knowledge base in `outDir` (sorted, deterministic). */
export function writeOverrides(outDir: string, o: Overrides): void {
  const pairs = (xs: [string, string][]) =>
    [...new Map(xs.map(([a, b]): [string, [string, string]] => (byString(a, b) <= 0 ? [`${a}\n${b}`, [a, b]] : [`${b}\n${a}`, [b, a]]))).values()].sort(
      (p, q) => byString(p.join("\n"), q.join("\n")),
    );
  const aliases = Object.fromEntries(Object.entries(o.aliases).sort((a, b) => byString(a[0], b[0])));
  writeFileAtomic(path.join(outDir, OVERRIDES_FILE), `${JSON.stringify({ merge: pairs(o.merge), separate: pairs(o.separate), aliases }, null, 2)}\n`);
}
