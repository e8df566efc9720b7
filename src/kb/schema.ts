/**
 * The shape of `kb.json`, in zod: the same schema checks what we write (tests), types it, and is
 * published as `kb.schema.json` (JSON Schema 2020-12, generated with z.toJSONSchema).
 */
import { z } from "zod";
import { CATEGORY_IDS, type CategoryId } from "./taxonomy.ts";
import type { Entry, QuarantineRecord, UnreadRecord } from "./types.ts";

export const KB_JSON_VERSION = 2;

const CategoryIdSchema = z.enum(CATEGORY_IDS);

const CodeVerificationSchema = z.object({
  status: z.enum(["compiles", "parses-only", "fails", "not-checkable"]),
  parses: z.boolean(),
  detail: z.string(),
  checker: z.string(),
  wrapped: z.boolean(),
});

const ExampleRefSchema = z
  .object({
    unitId: z.string(),
    relPath: z.string(),
    startLine: z.number().int(),
    endLine: z.number().int(),
    lang: z.string(),
    code: z.string(),
    verification: CodeVerificationSchema.optional().describe("The Rust code check's verdict (absent when not checked)"),
  })
  .describe("Code quoted verbatim from a source unit");

const EvidenceRefSchema = z.object({ unitId: z.string(), title: z.string(), startLine: z.number().int(), endLine: z.number().int() });

const ResearchRefSchema = z.object({ id: z.string(), provider: z.string(), title: z.string(), citation: z.string(), url: z.string().optional() });

const EntrySchema = z.object({
  id: z
    .string()
    .regex(/^kb-[0-9a-f]{8}$/)
    .describe("Stable entry ID, kept across runs"),
  slug: z.string().describe("Stable slug: the page is patterns/<slug>.md"),
  name: z.string(),
  aliases: z.array(z.string()),
  category: CategoryIdSchema,
  tags: z.array(z.string()),
  summary: z.string(),
  whenToUse: z.array(z.string()),
  whenNotToUse: z.array(z.string()),
  pitfalls: z.array(z.string()),
  example: ExampleRefSchema.nullable(),
  related: z.array(z.object({ id: z.string(), slug: z.string(), name: z.string(), why: z.array(z.string()) })),
  crossRefs: z.object({
    clippy: z.array(z.string()).describe("Clippy lint names the sources name"),
    guidelines: z.array(z.string()).describe("Rust API Guidelines IDs (C-…) the sources name"),
  }),
  sources: z.array(
    z.object({
      relPath: z.string(),
      draftId: z.string(),
      evidence: z.array(EvidenceRefSchema),
      verification: z.string(),
    }),
  ),
  research: z.array(ResearchRefSchema),
  merges: z
    .array(
      z.object({
        draftId: z.string(),
        relPath: z.string(),
        name: z.string(),
        reason: z.enum(["founder", "same-name", "alias", "model", "override"]),
        with: z.string().optional(),
        detail: z.string().optional(),
      }),
    )
    .describe("Which drafts went into the entry and why"),
});

export const KbJsonSchema = z
  .object({
    $schema: z.string().optional(),
    schemaVersion: z.literal(KB_JSON_VERSION),
    categories: z.array(z.object({ id: CategoryIdSchema, title: z.string(), count: z.number().int() })),
    entries: z.array(EntrySchema),
    quarantined: z.array(z.object({ relPath: z.string(), patternKey: z.string(), name: z.string(), problems: z.array(z.string()) })),
    unread: z
      .array(
        z.object({
          relPath: z.string(),
          units: z.array(
            z.object({
              unitId: z.string(),
              title: z.string(),
              startLine: z.number().int(),
              endLine: z.number().int(),
              role: z.string().describe("The role whose model did not read the unit in full"),
              how: z.enum(["left-out", "shortened"]).describe("left-out: never shown to it; shortened: shown in part"),
              why: z
                .enum(["context-cut", "no-room", "pattern-limit"])
                .describe(
                  "context-cut: the prompt was cut to fit the context; no-room: the context had no room for all of it; pattern-limit: the file's limit of patterns was found before it",
                ),
            }),
          ),
        }),
      )
      .default([])
      .describe("Source files with units a model did not read in full when the file was last processed"),
  })
  .describe("A Rust patterns knowledge base (kb.json)");

/** kb.json as written (the interfaces of types.ts; the schema above describes the same data). */
export interface KbJson {
  $schema: string;
  schemaVersion: typeof KB_JSON_VERSION;
  categories: { id: CategoryId; title: string; count: number }[];
  entries: Entry[];
  quarantined: QuarantineRecord[];
  unread: UnreadRecord[];
}

// Compile-time check that the zod schema and the interfaces in types.ts describe the same data.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const entryShapesAgree: Same<z.infer<typeof EntrySchema>, Entry> = true;
const quarantineShapesAgree: Same<z.infer<typeof KbJsonSchema>["quarantined"][number], QuarantineRecord> = true;
const unreadShapesAgree: Same<z.infer<typeof KbJsonSchema>["unread"][number], UnreadRecord> = true;
void entryShapesAgree;
void quarantineShapesAgree;
void unreadShapesAgree;

/** The JSON Schema of kb.json, as written next to it. */
export function kbJsonSchemaText(): string {
  const schema = z.toJSONSchema(KbJsonSchema, { target: "draft-2020-12" });
  return `${JSON.stringify({ ...schema, $id: "kb.schema.json", title: "Rust patterns knowledge base" }, null, 2)}\n`;
}
