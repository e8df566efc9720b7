/**
 * Composition root: builds the services the nodes need. The CLI and the Studio entry both use it;
 * nothing here runs at import time.
 */
import { createHash } from "node:crypto";
import { DEFAULT_SETTINGS, type NodeDeps, type PipelineSettings } from "../../nodes/deps.ts";
import { KB_SCHEMA_VERSION, KnowledgeBase } from "../kb/KnowledgeBase.ts";
import { LlmService } from "../llm/LlmService.ts";
import type { BackendForRole } from "../llm/types.ts";
import type { EventSink } from "../progress/events.ts";
import { TimeSplit } from "../progress/TimeSplit.ts";
import { PromptLibrary } from "../prompts/PromptLibrary.ts";
import { InputSetProvider } from "../research/InputSetProvider.ts";
import type { ResearchProvider } from "../research/types.ts";
import { Ledger } from "../store/Ledger.ts";
import type { RunDatabase } from "../store/RunDatabase.ts";
import { TaskTracker } from "../util/TaskTracker.ts";

export interface ServiceOptions {
  db: RunDatabase;
  backendFor: BackendForRole;
  events: EventSink;
  settings?: Partial<PipelineSettings>;
  prompts?: PromptLibrary;
  /** Research providers (src/research/openResearch.ts); default: the run's own input only. */
  research?: ResearchProvider[];
  /** The example code check (src/validate/rustCheck.ts); default: none. */
  codeCheck?: NodeDeps["codeCheck"];
  /** Test-only: the node fault of RUST_KB_TEST_FAULTS (src/testing/faults.ts). */
  nodeFault?: NodeDeps["nodeFault"] | undefined;
  /** Test-only: the failing file system of RUST_KB_TEST_FAULTS's write fault. */
  writeFs?: NodeDeps["writeFs"] | undefined;
}

export interface Services {
  deps: NodeDeps;
  /** Where the run's time goes: model calls (waiting, reading, generating), research and code checks. */
  times: TimeSplit;
  /** Closes every knowledge base and ledger opened during the run. */
  close(): void;
}

export function createServices(options: ServiceOptions): Services {
  const kbs = new Map<string, KnowledgeBase>();
  const ledgers = new Map<string, Ledger>();
  const settings: PipelineSettings = { ...DEFAULT_SETTINGS, ...options.settings, maxTokens: { ...DEFAULT_SETTINGS.maxTokens, ...options.settings?.maxTokens } };
  const times = new TimeSplit();
  const codeCheck = options.codeCheck;
  const deps: NodeDeps = {
    llm: new LlmService({ backendFor: options.backendFor, store: options.db, events: options.events, times }),
    db: options.db,
    prompts: options.prompts ?? PromptLibrary.load(),
    research: (options.research ?? [new InputSetProvider(options.db)]).map((p) => timedProvider(p, times)),
    kb: (outDir) => {
      let kb = kbs.get(outDir);
      if (!kb) {
        kb = KnowledgeBase.open(outDir);
        kbs.set(outDir, kb);
      }
      return kb;
    },
    ledger: (outDir) => {
      let ledger = ledgers.get(outDir);
      if (!ledger) {
        ledger = Ledger.open(outDir);
        ledgers.set(outDir, ledger);
      }
      return ledger;
    },
    events: options.events,
    tasks: new TaskTracker(),
    settings,
    modelIdFor: (role) => options.backendFor(role).modelId,
    ...(options.nodeFault ? { nodeFault: options.nodeFault } : {}),
    ...(options.writeFs ? { writeFs: options.writeFs } : {}),
    ...(codeCheck ? { codeCheck: { check: (code, lang) => times.time("codeCheck", () => codeCheck.check(code, lang)) } } : {}),
  };
  return {
    deps,
    times,
    close: () => {
      for (const kb of kbs.values()) kb.close();
      kbs.clear();
      for (const l of ledgers.values()) l.close();
      ledgers.clear();
    },
  };
}

/** A research provider whose searches count as research time. */
function timedProvider(provider: ResearchProvider, times: TimeSplit): ResearchProvider {
  const cacheKey = provider.cacheKey?.bind(provider);
  return {
    name: provider.name,
    search: (query) => times.time("research", () => provider.search(query)),
    ...(cacheKey ? { cacheKey } : {}),
  };
}

/** Hash of everything that changes what a run writes: model, prompts, node settings, KB schema. */
export function settingsHash(modelId: string, prompts: PromptLibrary, settings: PipelineSettings): string {
  return createHash("sha256")
    .update(JSON.stringify({ modelId, prompts: prompts.hash, settings, kbSchema: KB_SCHEMA_VERSION }))
    .digest("hex")
    .slice(0, 16);
}
