/**
 * Builds the research providers a run asked for, in the order their source IDs are assigned
 * (input L…, docs D…, tavily W…): the docs index is found or built first (with progress
 * messages), network providers go behind the search cache, and every provider but the run's own
 * input is wrapped so a failure turns it off with one message instead of failing the run.
 */
import path from "node:path";
import { DEFAULT_RUN_DB } from "../config/defaults.ts";
import type { EventSink } from "../progress/events.ts";
import type { RunDatabase } from "../store/RunDatabase.ts";
import { CachedProvider } from "./CachedProvider.ts";
import { InputSetProvider } from "./InputSetProvider.ts";
import { LocalDocsProvider } from "./LocalDocsProvider.ts";
import { openDocsIndex } from "./openDocsIndex.ts";
import { ResilientProvider } from "./ResilientProvider.ts";
import { SearchCache } from "./SearchCache.ts";
import { TavilyProvider } from "./TavilyProvider.ts";
import type { ResearchProvider } from "./types.ts";

export const RESEARCH_PROVIDERS = ["input", "docs", "tavily"] as const;
export type ResearchProviderName = (typeof RESEARCH_PROVIDERS)[number];

export interface ResearchOptions {
  /** Providers asked for; undefined: input and docs, plus tavily when an API key is set. */
  names?: readonly ResearchProviderName[];
  /** `--library DIR` folders added to the docs index. */
  libraries?: readonly string[];
  /** Docs index file (default `docs-index.sqlite` next to the run database). */
  docsIndex?: string;
  tavily?: { includeDomains?: readonly string[]; excludeDomains?: readonly string[]; maxResults?: number };
  /** From src/config/env.ts. */
  env: { tavilyApiKey?: string | undefined; tavilyBaseUrl?: string | undefined; rustDocsDir?: string | undefined; home: string };
  db: RunDatabase;
  /** Directories the docs index may not be written into (input and output). */
  forbiddenDirs: readonly string[];
  events: EventSink;
  signal?: AbortSignal;
}

export interface ResearchSetup {
  providers: ResearchProvider[];
  /** What each provider is, in a line each (for the log). */
  notes: string[];
  close(): void;
}

/** The providers used when `--research` is not given. */
export function defaultResearchNames(tavilyApiKey: string | undefined): ResearchProviderName[] {
  return tavilyApiKey ? ["input", "docs", "tavily"] : ["input", "docs"];
}

export function defaultDocsIndexPath(dbPath: string): string {
  return path.join(path.dirname(path.resolve(dbPath)), "docs-index.sqlite");
}

export async function openResearch(options: ResearchOptions): Promise<ResearchSetup> {
  const say = (text: string, level: "info" | "warn" = "info") => options.events({ type: "message", level, text });
  const wanted = RESEARCH_PROVIDERS.filter((n) => (options.names ?? defaultResearchNames(options.env.tavilyApiKey)).includes(n));
  const cache = new SearchCache(options.db.connection);
  const notes: string[] = [];
  const closers: (() => void)[] = [];
  const built: { name: ResearchProviderName; provider: ResearchProvider }[] = [];

  if (wanted.includes("input")) {
    // The run's own input index is local and cheap to ask again: not cached.
    built.push({ name: "input", provider: new InputSetProvider(options.db) });
    notes.push("input: the other files of this run (SQLite FTS5)");
  }

  if (wanted.includes("docs")) {
    const file = path.resolve(options.docsIndex ?? defaultDocsIndexPath(options.db.file === ":memory:" ? DEFAULT_RUN_DB : options.db.file));
    const docs = await openDocsIndex(
      { libraries: options.libraries, file, env: options.env, forbiddenDirs: options.forbiddenDirs, signal: options.signal },
      say,
    );
    if (docs) {
      closers.push(() => docs.index.close());
      built.push({ name: "docs", provider: new CachedProvider(new LocalDocsProvider(docs.index, docs.roots), cache) });
      notes.push(docs.note);
    }
  }

  if (wanted.includes("tavily")) {
    const tavily = tavilyProvider(options, say);
    if (tavily) {
      built.push({ name: "tavily", provider: new CachedProvider(tavily, cache) });
      notes.push(
        `tavily: web search${options.env.tavilyBaseUrl ? ` at ${options.env.tavilyBaseUrl}` : ""} (only short queries built from pattern names are sent)`,
      );
    }
  }

  const names = built.map((b) => b.name);
  const providers = built.map(({ name, provider }) =>
    name === "input" ? provider : new ResilientProvider(provider, { onWarn: (text) => say(text, "warn"), others: names }),
  );
  return {
    providers,
    notes,
    close: () => {
      for (const c of closers) c();
    },
  };
}

/** Web research; undefined (said) without an API key. */
function tavilyProvider(options: ResearchOptions, say: (text: string, level?: "info" | "warn") => void): TavilyProvider | undefined {
  if (!options.env.tavilyApiKey) {
    say("--research tavily needs TAVILY_API_KEY: web research is off for this run.", "warn");
    return undefined;
  }
  return new TavilyProvider({
    apiKey: options.env.tavilyApiKey,
    ...(options.env.tavilyBaseUrl ? { baseUrl: options.env.tavilyBaseUrl } : {}),
    ...(options.tavily?.includeDomains ? { includeDomains: options.tavily.includeDomains } : {}),
    ...(options.tavily?.excludeDomains ? { excludeDomains: options.tavily.excludeDomains } : {}),
    ...(options.tavily?.maxResults ? { maxResults: options.tavily.maxResults } : {}),
  });
}
