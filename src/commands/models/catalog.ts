/**
 * The model catalog: `config/models.catalog.json`, data not code, validated here. Each entry is one
 * GGUF file (one model in one quantization) with what a user needs to choose it and what `pull`
 * needs to fetch and verify it. Values nobody could check from this machine are `null` (never
 * guessed), and `provenance` says where each known value came from.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { UserError } from "../../errors.ts";
import { ROLES } from "../../llm/roles.ts";

/** The repo's catalog file. */
export const CATALOG_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../config/models.catalog.json");

/** Sizes inside this range (decimal MB, as Hugging Face lists them) suit the users' plan. */
const SIZE_BUDGET_MB = { min: 300, max: 700 } as const;

const sha256 = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits")
  .nullable();

/** The hyper-parameters that decide memory (KV cache) and speed; `id` matches bench results' `modelShape`. */
const ModelShapeSchema = z
  .object({
    id: z.string().min(1),
    layers: z.number().int().positive(),
    embedding: z.number().int().positive(),
    heads: z.number().int().positive(),
    kvHeads: z.number().int().positive(),
    headDim: z.number().int().positive(),
    feedForward: z.number().int().positive(),
    vocab: z.number().int().positive(),
    /** Sliding-window attention: window in tokens, and every `slidingWindowPattern`-th layer is global. */
    slidingWindow: z.number().int().positive().optional(),
    slidingWindowPattern: z.number().int().positive().optional(),
  })
  .strict();

export const CatalogEntrySchema = z
  .object({
    /** What users type: `npm run models -- pull NAME`. Lowercase, no spaces. */
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "name: lowercase letters, digits, '.', '_' and '-'"),
    displayName: z.string().min(1),
    /** node-llama-cpp model URI: `hf:user/repo/file.gguf` (or an http(s) URL). */
    uri: z.string().regex(/^(hf:[^/\s]+\/[^/\s]+\/\S+\.gguf|https?:\/\/\S+)$/, "uri: hf:user/repo/file.gguf or an http(s) URL"),
    /** The file's name on the hub. */
    fileName: z.string().regex(/\.gguf$/, "fileName must end in .gguf"),
    publisher: z.string().min(1),
    /** Exact size in bytes; null where not known exactly. */
    sizeBytes: z.number().int().positive().nullable(),
    /** Approximate size in decimal MB (10^6 bytes), as the hub lists it; null if unknown. */
    approxSizeMB: z.number().positive().nullable(),
    quantization: z.enum(["Q4_K_M", "Q8_0", "Q4_0", "Q5_K_M", "Q6_K", "F16"]),
    architecture: z.string().min(1),
    parameterCount: z.number().int().positive().nullable(),
    contextLength: z.number().int().positive().nullable(),
    chatTemplate: z.string().min(1).nullable(),
    licence: z.string().min(1).nullable(),
    roles: z.array(z.enum(ROLES)).min(1),
    sha256,
    /** True when the size is outside 300-700 MB (see SIZE_BUDGET_MB); must agree with the size. */
    outsideBudget: z.boolean(),
    shape: ModelShapeSchema.nullable(),
    /** Where the values came from, per field group (free text: "memory", a URL, ...). */
    provenance: z
      .object({
        size: z.string().min(1),
        sha256: z.string().min(1).nullable(),
        specs: z.string().min(1),
      })
      .strict(),
    notes: z.string().optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const bytes = entrySizeBytes(e);
    if (bytes !== undefined) {
      const mb = bytes / 1e6;
      const outside = mb < SIZE_BUDGET_MB.min || mb > SIZE_BUDGET_MB.max;
      if (outside !== e.outsideBudget)
        ctx.addIssue({
          code: "custom",
          path: ["outsideBudget"],
          message: `outsideBudget is ${e.outsideBudget} but the size (${mb.toFixed(0)} MB) is ${outside ? "outside" : "inside"} ${SIZE_BUDGET_MB.min}-${SIZE_BUDGET_MB.max} MB`,
        });
    }
    if (e.sha256 !== null && e.provenance.sha256 === null)
      ctx.addIssue({ code: "custom", path: ["provenance", "sha256"], message: "a sha256 needs a provenance saying where it came from" });
    if (!e.uri.endsWith(e.fileName) && !e.uri.includes(`/${e.fileName}`))
      ctx.addIssue({ code: "custom", path: ["fileName"], message: `fileName ${e.fileName} is not the file the uri points at` });
  });

export const CatalogSchema = z
  .object({
    $comment: z.string().optional(),
    version: z.literal(1),
    models: z.array(CatalogEntrySchema).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.models.forEach((m, i) => {
      if (seen.has(m.name)) ctx.addIssue({ code: "custom", path: ["models", i, "name"], message: `duplicate name ${m.name}` });
      seen.add(m.name);
    });
  });

export type CatalogEntry = z.infer<typeof CatalogEntrySchema>;
export type Catalog = z.infer<typeof CatalogSchema>;

/** The size the catalog knows: exact bytes, else approximate MB x 10^6, else undefined. */
export function entrySizeBytes(e: Pick<CatalogEntry, "sizeBytes" | "approxSizeMB">): number | undefined {
  if (e.sizeBytes !== null) return e.sizeBytes;
  if (e.approxSizeMB !== null) return Math.round(e.approxSizeMB * 1e6);
  return undefined;
}

/** Validates parsed JSON; the error lists every problem with its path. */
export function parseCatalog(data: unknown, source = "catalog"): Catalog {
  const r = CatalogSchema.safeParse(data);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
  throw new UserError(
    "CONFIG_INVALID",
    `The model catalog ${source} is not valid:\n${problems}`,
    `Fix ${source} (schema in src/commands/models/catalog.ts, described in docs/MODELS.md).`,
  );
}

/** Reads and validates a catalog file (default: the repo's). */
export function loadCatalog(file: string = CATALOG_PATH): Catalog {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError("CONFIG_INVALID", `Cannot read the model catalog ${file}: ${(e as Error).message}`, "Restore config/models.catalog.json from git.", {
      cause: e,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new UserError("CONFIG_INVALID", `The model catalog ${file} is not JSON: ${(e as Error).message}`, "Fix the JSON syntax (or restore it from git).", {
      cause: e,
    });
  }
  return parseCatalog(data, file);
}

/** The entry called `name` (case-insensitive), or undefined. */
export function findEntry(catalog: Catalog, name: string): CatalogEntry | undefined {
  const n = name.trim().toLowerCase();
  return catalog.models.find((m) => m.name === n);
}

/** The entry whose URI is `uri` (e.g. the pipeline's default model), or undefined. */
export function findEntryByUri(catalog: Catalog, uri: string): CatalogEntry | undefined {
  return catalog.models.find((m) => m.uri === uri);
}

/** Names close to `name`, for "did you mean" hints. */
export function suggestNames(catalog: Catalog, name: string, max = 3): string[] {
  const n = name.toLowerCase();
  const parts = n.split(/[-_.]/).filter((p) => p.length > 1);
  return catalog.models
    .map((m) => ({ m, score: parts.filter((p) => m.name.includes(p)).length }))
    .filter((x) => x.score > 0)
    .sort((a, b) => b.score - a.score)
    .slice(0, max)
    .map((x) => x.m.name);
}
