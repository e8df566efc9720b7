import { DEFAULT_OUT_DIR } from "../../config/defaults.ts";
import { type FlagConfig, parseFlags } from "../parseFlags.ts";
import { usageResult } from "../usageResult.ts";
import type { McpOptions } from "./mcp/runMcpCommand.ts";

export type KbCommand =
  | { kind: "search"; query: string; limit: number }
  | { kind: "show"; ref: string }
  | { kind: "list"; category: string | undefined }
  | { kind: "merge"; a: string; b: string }
  | { kind: "separate"; a: string; b: string }
  | { kind: "rebuild" }
  /** `dir`: --site-dir (default <out>/site). */
  | { kind: "site"; dir: string | undefined };

export interface KbOptions {
  command: KbCommand;
  out: string;
  json: boolean;
  /** `--break-lock`: merge/separate/rebuild take over a lock held from another host. */
  breakLock?: boolean;
}

/** `mcp` is a server, not a one-shot command: it runs through runMcpCommand. */
export type KbParseResult = { kind: "run"; options: KbOptions } | { kind: "mcp"; options: McpOptions } | { kind: "help" } | { kind: "error"; message: string };

export const KB_HELP = `Usage: npm run kb -- COMMAND [options]

Queries and curates the knowledge base that \`npm run graph\` wrote.

Commands:
  search QUERY...      full-text search over the entries (names and aliases rank first)
  show REF             print one entry: its slug, ID, name or alias, or a draft ID
  list                 every entry, by category (--category ID for one)
  merge A B            record that A and B are one pattern (draft IDs, or entry slugs)
  separate A B         record that drafts A and B are different patterns (undoes a merge)
  rebuild              re-match and re-render the pages from the store: applies
                       kb-overrides.json without a model (cached judgments only)
  site                 write the knowledge base as a static HTML site (default <out>/site):
                       categories, search, a page per pattern; open its index.html
  mcp                  serve the knowledge base to coding assistants over MCP (stdio; --http
                       PORT for http://127.0.0.1:PORT/mcp): search, get a pattern, list the
                       categories, every page as a resource. Read-only. See docs/MCP.md

merge and separate edit <out>/kb-overrides.json; the next run (or rebuild) applies it.

Options:
  --out DIR            knowledge-base directory (default ${DEFAULT_OUT_DIR}); --kb DIR is the same
  --limit N            search results (default 10)
  --category ID        list: only this category
  --site-dir DIR       site: where to write it (default <out>/site)
  --http PORT          mcp: serve over HTTP on 127.0.0.1:PORT (0 picks a free port) instead of stdio
  --json               machine-readable output on stdout
  --break-lock         merge/separate/rebuild: take over the output lock of a run on another
                       host (only once you know it is over)
  -h, --help           show this help

search, show, list and mcp only read: they write nothing in the directory; site reads the store and
writes only inside the site directory. merge, separate and
rebuild take the output lock, as a run does. Pages are replaced or removed only where this tool
wrote them (recorded in .kb/kb.sqlite); a file of yours is left alone.

Exit codes: 0 done, 1 nothing found or failed, 2 usage error.`;

const KB_FLAGS: FlagConfig = {
  out: { type: "string" },
  kb: { type: "string" },
  http: { type: "string" },
  limit: { type: "string" },
  category: { type: "string" },
  "site-dir": { type: "string" },
  json: { type: "boolean" },
  "break-lock": { type: "boolean" },
};

/** Pure: argv in, a command or a usage error out (tests call this directly). */
export function parseKbArgs(argv: readonly string[]): KbParseResult {
  return usageResult(() => kbCommand(parseFlags(argv, KB_FLAGS, true)));
}

function kbCommand({ values: v, positionals }: ReturnType<typeof parseFlags>): KbParseResult {
  if (v.help) return { kind: "help" };
  const [name, ...rest] = positionals;
  if (!name) return { kind: "error", message: "a command is required: search, show, list, merge, separate, rebuild, site or mcp" };
  if (v.out === "" || v.kb === "") return { kind: "error", message: `--${v.out === "" ? "out" : "kb"} needs a value` };
  if (v.out !== undefined && v.kb !== undefined) return { kind: "error", message: "--out and --kb name the same directory: pass one" };
  const out = ((v.kb ?? v.out) as string | undefined) ?? DEFAULT_OUT_DIR;
  const json = v.json === true;
  const breakLock = v["break-lock"] === true;
  if (breakLock && ["search", "show", "list", "site", "mcp"].includes(name))
    return { kind: "error", message: `--break-lock applies to merge, separate and rebuild (${name} takes no lock)` };
  const done = (command: KbCommand): KbParseResult => ({ kind: "run", options: { command, out, json, ...(breakLock ? { breakLock } : {}) } });
  if (v.limit !== undefined && name !== "search") return { kind: "error", message: "--limit applies to search only" };
  if (v.category !== undefined && name !== "list") return { kind: "error", message: "--category applies to list only" };
  if (v["site-dir"] !== undefined && name !== "site") return { kind: "error", message: "--site-dir applies to site only" };
  if (v["site-dir"] === "") return { kind: "error", message: "--site-dir needs a value" };
  if (v.http !== undefined && name !== "mcp") return { kind: "error", message: "--http applies to mcp only" };
  switch (name) {
    case "search": {
      const query = rest.join(" ").trim();
      if (query === "") return { kind: "error", message: 'search needs a query, e.g. npm run kb -- search "error handling"' };
      let limit = 10;
      if (v.limit !== undefined) {
        const n = Number(v.limit);
        if (!Number.isInteger(n) || n < 1 || n > 1000) return { kind: "error", message: `--limit must be an integer from 1 to 1000, got "${v.limit}"` };
        limit = n;
      }
      return done({ kind: "search", query, limit });
    }
    case "show": {
      if (rest.length !== 1 || !rest[0]) return { kind: "error", message: "show needs exactly one slug, ID or name (quote names with spaces)" };
      return done({ kind: "show", ref: rest[0] });
    }
    case "list":
      if (rest.length > 0) return { kind: "error", message: `list takes no arguments, got "${rest.join(" ")}"` };
      return done({ kind: "list", category: v.category as string | undefined });
    case "merge":
    case "separate": {
      const [a, b] = rest;
      if (rest.length !== 2 || !a || !b) return { kind: "error", message: `${name} needs two draft IDs or slugs` };
      if (a === b) return { kind: "error", message: `${name} needs two different references` };
      return done({ kind: name, a, b });
    }
    case "rebuild":
      if (rest.length > 0) return { kind: "error", message: `rebuild takes no arguments, got "${rest.join(" ")}"` };
      return done({ kind: "rebuild" });
    case "site":
      if (rest.length > 0) return { kind: "error", message: `site takes no arguments, got "${rest.join(" ")}"` };
      return done({ kind: "site", dir: v["site-dir"] as string | undefined });
    case "mcp": {
      if (rest.length > 0) return { kind: "error", message: `mcp takes no arguments, got "${rest.join(" ")}"` };
      if (json) return { kind: "error", message: "--json does not apply to mcp (its answers are MCP messages)" };
      if (v.http === undefined) return { kind: "mcp", options: { kb: out } };
      const port = Number(v.http);
      if (!/^\d+$/.test(String(v.http)) || port > 65535) return { kind: "error", message: `--http takes a port from 0 to 65535, got "${v.http}"` };
      return { kind: "mcp", options: { kb: out, http: port } };
    }
    default:
      return { kind: "error", message: `unknown command "${name}": use search, show, list, merge, separate, rebuild, site or mcp` };
  }
}
