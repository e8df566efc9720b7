/**
 * Phase 2 of opening a run: what the nodes work with — the models (the caller's, kept ones, or the
 * configured ones loaded now), prompts, research, the code check and the services built on them, and
 * the settings the run's ledger is keyed by.
 */
import { DEFAULT_SETTINGS, type PipelineSettings } from "../../nodes/deps.ts";
import type { Env } from "../config/env.ts";
import { CPU_HOLD_MS, cpuCallsAtOnce, cpuFilesInFlight } from "../llm/cpuFilesInFlight.ts";
import { FairScheduler } from "../llm/FairScheduler.ts";
import { ROLES } from "../llm/roles.ts";
import type { EventSink } from "../progress/events.ts";
import { PromptLibrary } from "../prompts/PromptLibrary.ts";
import { defaultDocsIndexPath, openResearch } from "../research/openResearch.ts";
import type { LedgerSettings } from "../store/Ledger.ts";
import { faultyWriteFs, parseFaults, withModelFault } from "../testing/faults.ts";
import { CodeCheckCache } from "../validate/CodeCheckCache.ts";
import { RustChecker } from "../validate/rustCheck.ts";
import { createServices, type Services, settingsHash } from "./createServices.ts";
import { openModels } from "./openModels.ts";
import type { RunRecord } from "./openRunRecord.ts";
import type { RunLifetime } from "./RunLifetime.ts";
import type { PipelineHooks, PipelineOptions, RunModels } from "./types.ts";

export interface RunResources {
  models: RunModels;
  services: Services;
  ledgerSettings: LedgerSettings;
}

export async function openRunResources(
  record: RunRecord,
  options: PipelineOptions,
  context: { hooks: PipelineHooks; env: Env; emit: EventSink; lifetime: RunLifetime },
): Promise<RunResources> {
  const { db, resolved, dbPath } = record;
  const { env, emit, lifetime } = context;
  const models = await runModels(record, options, context);
  // Stopped while the models loaded: throw the abort's reason before opening anything else.
  lifetime.signal.throwIfAborted();
  // Test-only faults (RUST_KB_TEST_FAULTS): a failing model, full disk, or a bug in one node.
  const faults = parseFaults(env.testFaults);
  const backendFor = faults.model ? withModelFault(models.backendFor, faults.model) : models.backendFor;
  const prompts = PromptLibrary.load();
  const settings: Partial<PipelineSettings> = {
    llmReview: resolved.recorded.llmReview,
    // Part of the settings hash: other limits re-process the files.
    ...(resolved.recorded.maxTokens ? { maxTokens: { ...DEFAULT_SETTINGS.maxTokens, ...resolved.recorded.maxTokens } } : {}),
  };
  const forbiddenDirs = [resolved.input, resolved.out];
  const research = await openResearch({
    names: options.research,
    libraries: options.libraries,
    docsIndex: options.docsIndex ?? defaultDocsIndexPath(dbPath),
    tavily: { includeDomains: options.tavilyIncludeDomains, excludeDomains: options.tavilyExcludeDomains },
    env,
    db,
    forbiddenDirs,
    events: emit,
    signal: lifetime.signal,
  });
  lifetime.onClose(() => research.close());
  const codeCheck = new RustChecker({ cache: new CodeCheckCache(db.connection), forbiddenDirs, ...(options.rustc === false ? { rustc: false } : {}) });
  const services = createServices({
    db,
    backendFor,
    events: emit,
    settings,
    prompts,
    research: research.providers,
    codeCheck,
    nodeFault: faults.node,
    writeFs: faults.write ? faultyWriteFs(faults.write) : undefined,
  });
  lifetime.onClose(() => services.close());
  const modelIds = ROLES.map((r) => `${r}=${models.backendFor(r).modelId}`).join(",");
  const ledgerSettings: LedgerSettings = {
    settingsHash: settingsHash(modelIds, prompts, services.deps.settings),
    modelId: modelIds,
    promptsHash: prompts.hash,
  };
  return { models, services, ledgerSettings };
}

/** The caller's models, the kept ones (watch mode), or the configured ones loaded now (closed with the run). */
async function runModels(
  record: RunRecord,
  options: PipelineOptions,
  context: { hooks: PipelineHooks; env: Env; emit: EventSink; lifetime: RunLifetime },
): Promise<RunModels> {
  const { hooks, env, emit, lifetime } = context;
  const { recorded } = record.resolved;
  if (hooks.models) return hooks.models;
  const load = (onCleanup: (c: () => Promise<void> | void) => void) => openConfiguredModels(recorded, options, env, lifetime.signal, emit, onCleanup);
  if (hooks.keptModels) return hooks.keptModels.get(JSON.stringify({ model: recorded.model, agents: recorded.agents }), load);
  return load((c) => lifetime.onClose(c));
}

/** Loads the configured models; the extractor's model's sequences bound the files in flight (every file starts there). */
async function openConfiguredModels(...args: Parameters<typeof openModels>): Promise<RunModels> {
  const { plan, pool, cpuOnly } = await openModels(...args);
  const extractorModel = plan.models.find((m) => m.roles.includes("extractor"));
  // On a CPU engine a few files per thread keep it busy; more only delay every file (unless --concurrency says otherwise).
  const onCpu = cpuOnly === true && extractorModel !== undefined && extractorModel.backend !== "endpoint" && args[1].concurrency === undefined;
  if (onCpu) {
    const { scheduler } = pool.backendFor("extractor") as { scheduler?: unknown };
    if (scheduler instanceof FairScheduler) scheduler.limitActive(cpuCallsAtOnce(extractorModel.threads), CPU_HOLD_MS);
  }
  return {
    backendFor: pool.backendFor,
    concurrency: plan.concurrency,
    sequences: extractorModel?.sequences,
    ...(onCpu ? { filesInFlight: cpuFilesInFlight(extractorModel.threads) } : {}),
  };
}
