/**
 * The knowledge base as an MCP server (`npm run kb -- mcp`): three read-only tools (search the
 * patterns, get one pattern's page, list the categories) and every page as a resource, answered
 * from a KbReader. The official SDK's McpServer does the protocol; this module only says what
 * each tool and resource answers.
 */
import path from "node:path";
import { McpServer, ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { isUserError } from "../../../errors.ts";
import type { KbReader, KbSnapshot } from "../../../kb/KbReader.ts";
import { stripControl } from "../../../kb/markdownSafe.ts";
import { renderCategoryPage, renderIndex } from "../../../kb/render.ts";
import { type SourceLinker, sourceLinker } from "../../../kb/sourceLinks.ts";
import { CATEGORIES, CATEGORY_IDS } from "../../../kb/taxonomy.ts";
import type { Entry } from "../../../kb/types.ts";
import {
  bounded,
  CATEGORY_URI_TEMPLATE,
  categoriesAnswer,
  categoryUri,
  INDEX_URI,
  MCP_LIMITS,
  PATTERN_URI_TEMPLATE,
  patternAnswer,
  patternUri,
  searchAnswer,
} from "./mcpAnswers.ts";

/** MCP's "resource not found" error code (the SDK has no name for it). */
const RESOURCE_NOT_FOUND = -32002;
const MARKDOWN = "text/markdown";

const INSTRUCTIONS = `A knowledge base of idiomatic Rust patterns, each with a verbatim example checked by rustc or tree-sitter, when to use it and when not, pitfalls, related patterns, Clippy lints and Rust API Guidelines IDs, and sources linked to the notes it came from.
Use search_patterns to find patterns by words, a Clippy lint or an API guideline, then get_pattern for one pattern's page. list_categories lists the categories with their counts.`;

const hitShape = z.object({ id: z.string(), slug: z.string(), name: z.string(), category: z.string(), snippet: z.string(), uri: z.string() });
const patternShape = {
  id: z.string(),
  slug: z.string(),
  uri: z.string(),
  page: z.string(),
  name: z.string(),
  aliases: z.array(z.string()),
  category: z.string(),
  categoryTitle: z.string(),
  tags: z.array(z.string()),
  summary: z.string(),
  whenToUse: z.array(z.string()),
  whenNotToUse: z.array(z.string()),
  pitfalls: z.array(z.string()),
  example: z
    .object({
      code: z.string(),
      lang: z.string(),
      path: z.string(),
      lines: z.string(),
      link: z.string().optional(),
      verdict: z.string().optional(),
      detail: z.string().optional(),
      checker: z.string().optional(),
    })
    .nullable(),
  sources: z.array(z.object({ path: z.string(), lines: z.array(z.string()), link: z.string().optional(), verification: z.string() })),
  research: z.array(z.object({ title: z.string(), provider: z.string(), url: z.string().optional() })),
  related: z.array(z.object({ slug: z.string(), name: z.string(), why: z.array(z.string()), uri: z.string() })),
  clippyLints: z.array(z.object({ name: z.string(), url: z.string() })),
  apiGuidelines: z.array(z.object({ id: z.string(), url: z.string() })),
};

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

export function createKbMcpServer(reader: KbReader, version: string): McpServer {
  const server = new McpServer({ name: "rust-kb", title: "Rust patterns knowledge base", version }, { instructions: INSTRUCTIONS });
  registerTools(server, reader);
  registerResources(server, reader);
  return server;
}

/** Links from a page in `dir` to the input files, as the run that wrote the knowledge base renders them. */
function pageLinks(reader: KbReader, s: KbSnapshot, dir: "patterns" | "categories"): SourceLinker {
  return sourceLinker(path.join(reader.dir, dir), s.kb.lastRun()?.inputDir);
}

function registerTools(server: McpServer, reader: KbReader): void {
  server.registerTool(
    "search_patterns",
    {
      title: "Search Rust patterns",
      description:
        "Full-text search over the knowledge base's patterns (names and aliases rank first, then tags, Clippy lints and API guidelines, then the text; word prefixes match). Returns the best hits with a snippet; same results as `npm run kb -- search`.",
      inputSchema: {
        query: z.string().min(1).max(500).describe("Words to search for, e.g. 'error handling', 'newtype', 'mem::take', 'C-BUILDER'"),
        category: z.enum(CATEGORY_IDS).optional().describe("Only patterns of this category (see list_categories)"),
        lint: z.string().min(1).max(100).optional().describe("Only patterns that cite this Clippy lint, e.g. 'unwrap_used'"),
        guideline: z.string().min(1).max(40).optional().describe("Only patterns that cite this Rust API Guidelines ID, e.g. 'C-BUILDER'"),
        limit: z.number().int().min(1).max(MCP_LIMITS.hits).optional().describe(`Most hits to return (default 10, at most ${MCP_LIMITS.hits})`),
      },
      outputSchema: { query: z.string(), hits: z.array(hitShape) },
      annotations: READ_ONLY,
    },
    async ({ query, category, lint, guideline, limit }) => {
      const s = snapshotForTool(reader);
      const hits = s.kb.search(query, limit ?? 10, { category, lint, guideline });
      const answer = searchAnswer(query, hits);
      return { content: [{ type: "text", text: answer.text }], structuredContent: { ...answer.structured } };
    },
  );

  server.registerTool(
    "get_pattern",
    {
      title: "Get a Rust pattern",
      description:
        "One pattern's page: summary, the example quoted verbatim with its verification verdict (compiles, parses-only, fails, not-checkable), when to use it and when not, pitfalls, related patterns, Clippy lints and API guidelines, and its sources linked to the notes' lines.",
      inputSchema: { ref: z.string().min(1).max(300).describe("The pattern's slug (from search_patterns), ID (kb-…), name or alias") },
      outputSchema: patternShape,
      annotations: READ_ONLY,
    },
    async ({ ref }) => {
      const s = snapshotForTool(reader);
      const entry = s.bySlug(ref) ?? s.kb.findEntry(ref);
      if (!entry) {
        const near = s.kb.search(ref, 5);
        const text = `No pattern "${stripControl(ref).slice(0, 300)}" in the knowledge base.${near.length > 0 ? ` Did you mean: ${near.map((h) => h.slug).join(", ")}?` : " Use search_patterns to find one."}`;
        return { content: [{ type: "text", text }], isError: true };
      }
      const answer = patternAnswer(entry, pageLinks(reader, s, "patterns"));
      return { content: [{ type: "text", text: answer.text }], structuredContent: { ...answer.structured } };
    },
  );

  server.registerTool(
    "list_categories",
    {
      title: "List the categories",
      description: "The knowledge base's categories with the number of patterns in each (IDs for search_patterns' category filter).",
      inputSchema: {},
      outputSchema: {
        entries: z.number(),
        categories: z.array(z.object({ id: z.string(), title: z.string(), count: z.number(), uri: z.string() })),
      },
      annotations: READ_ONLY,
    },
    async () => {
      const answer = categoriesAnswer(snapshotForTool(reader).entries());
      return { content: [{ type: "text", text: answer.text }], structuredContent: { ...answer.structured } };
    },
  );
}

function registerResources(server: McpServer, reader: KbReader): void {
  server.registerResource(
    "index",
    INDEX_URI,
    { title: "Knowledge base index", description: "Categories with counts, then one line per pattern (index.md)", mimeType: MARKDOWN },
    async (uri) => {
      const s = snapshotForResource(reader);
      return markdown(uri.href, renderIndex(s.entries(), s.kb.quarantined().length), "the whole index is index.md in the knowledge base");
    },
  );

  server.registerResource(
    "pattern",
    new ResourceTemplate(PATTERN_URI_TEMPLATE, {
      list: () => ({ resources: listed(reader).map((e) => ({ uri: patternUri(e.slug), name: e.slug, title: stripControl(e.name), mimeType: MARKDOWN })) }),
      complete: { slug: (value) => slugsStartingWith(reader, value) },
    }),
    { title: "Pattern page", description: "One pattern's page (patterns/<slug>.md)", mimeType: MARKDOWN },
    async (uri, variables) => {
      const s = snapshotForResource(reader);
      const slug = variable(variables.slug);
      const entry = s.bySlug(slug);
      if (!entry) throw new McpError(RESOURCE_NOT_FOUND, `No pattern "${stripControl(slug).slice(0, 300)}" in the knowledge base.`, { uri: uri.href });
      return markdown(uri.href, patternAnswer(entry, pageLinks(reader, s, "patterns")).text);
    },
  );

  server.registerResource(
    "category",
    new ResourceTemplate(CATEGORY_URI_TEMPLATE, {
      list: () => {
        const used = new Set(listed(reader).map((e) => e.category));
        return { resources: CATEGORIES.filter((c) => used.has(c.id)).map((c) => ({ uri: categoryUri(c.id), name: c.id, title: c.title, mimeType: MARKDOWN })) };
      },
    }),
    { title: "Category page", description: "The patterns of one category (categories/<id>.md)", mimeType: MARKDOWN },
    async (uri, variables) => {
      const s = snapshotForResource(reader);
      const id = variable(variables.id);
      const list = s.entries().filter((e) => e.category === id);
      if (list.length === 0)
        throw new McpError(RESOURCE_NOT_FOUND, `No category "${stripControl(id).slice(0, 100)}" with patterns in the knowledge base.`, { uri: uri.href });
      return markdown(
        uri.href,
        renderCategoryPage(id, list, pageLinks(reader, s, "categories")),
        `the whole page is categories/${id}.md in the knowledge base`,
      );
    },
  );
}

function markdown(uri: string, text: string, rest = "the page is in the knowledge base") {
  return { contents: [{ uri, mimeType: MARKDOWN, text: bounded(text, MCP_LIMITS.text, rest) }] };
}

function variable(v: string | string[] | undefined): string {
  const s = Array.isArray(v) ? (v[0] ?? "") : (v ?? "");
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The knowledge base for a tool: a missing or unreadable one is a tool error with what to do (the SDK turns a throw into one). */
function snapshotForTool(reader: KbReader): KbSnapshot {
  try {
    return reader.snapshot();
  } catch (e) {
    throw new Error(describe(e), { cause: e });
  }
}

/** The knowledge base for a resource read: a missing or unreadable one is an MCP error with what to do. */
function snapshotForResource(reader: KbReader): KbSnapshot {
  try {
    return reader.snapshot();
  } catch (e) {
    throw new McpError(ErrorCode.InternalError, describe(e), { reason: isUserError(e) ? e.code : "INTERNAL_ERROR" });
  }
}

function describe(e: unknown): string {
  return isUserError(e) ? `${e.message}${e.hint ? ` ${e.hint}` : ""}` : `Cannot read the knowledge base: ${(e as Error).message}`;
}

/** Entries for a listing: none while there is no readable knowledge base (the tools and reads say why). */
function listed(reader: KbReader): readonly Entry[] {
  try {
    return reader.snapshot().entries();
  } catch {
    return [];
  }
}

function slugsStartingWith(reader: KbReader, prefix: string): string[] {
  return listed(reader)
    .map((e) => e.slug)
    .filter((slug) => slug.startsWith(prefix))
    .slice(0, 100);
}
