/**
 * Phase 1 of a run: which run this is (new, or the one to resume), its directories and the options
 * it runs with. A resumed run keeps what it recorded when it started (models, agents, limits).
 */
import fs from "node:fs";
import path from "node:path";
import { v7 as uuidv7 } from "@langchain/core/utils/uuid";
import { DEFAULT_MAX_FILE_MB, DEFAULT_OUT_DIR } from "../config/defaults.ts";
import type { Env } from "../config/env.ts";
import { UserError } from "../errors.ts";
import { KnowledgeBase } from "../kb/KnowledgeBase.ts";
import { applyOverrides, loadAgentsConfig, parseAgentsConfig } from "../llm/agentsConfig.ts";
import { DEFAULT_MODEL } from "../llm/resolveModel.ts";
import type { RunDatabase, RunRow } from "../store/RunDatabase.ts";
import { isInside, realPathOf } from "../util/realPathOf.ts";
import type { PipelineOptions, RecordedOptions } from "./types.ts";

export interface ResolvedRun {
  input: string;
  out: string;
  runId: string;
  /** The run's row when it is resumed (absent: a new run, created once its models are open). */
  run: RunRow | undefined;
  recorded: RecordedOptions;
}

/**
 * A new run's input and output directories, checked (nothing is created). Both are returned as
 * their real paths (symbolic links resolved, src/util/realPathOf.ts): the paths compared are the
 * paths the run uses and records.
 */
export function newRunDirectories(options: PipelineOptions): { input: string; out: string } {
  if (!options.input) throw new UserError("USAGE", "No input directory was given.", "Pass --input with a directory of .md, .txt or .json research files.");
  return checkDirectories(path.resolve(options.input), path.resolve(options.out ?? DEFAULT_OUT_DIR), options.forceOut === true);
}

/** `newRunDirs`: the new run's directories when the caller already checked them (newRunDirectories). */
export function resolveRun(options: PipelineOptions, db: RunDatabase, env: Env, newRunDirs?: { input: string; out: string }): ResolvedRun {
  const resumeId = typeof options.resume === "string" ? options.resume : undefined;
  if (options.resume !== undefined && options.runId !== undefined)
    throw new UserError("USAGE", "runId names a new run; it cannot be combined with resume.", "Pass resume: RUN_ID to continue a run by its ID.");
  if (options.checkpointId !== undefined && typeof options.resume !== "string")
    throw new UserError("USAGE", "checkpointId continues a run named by its ID.", "Pass resume: RUN_ID with it.");
  if (options.resume !== undefined) return resolveResumed(options, db, resumeId);

  const { input, out } = newRunDirs ?? newRunDirectories(options);
  const runId = options.runId ?? newRunId();
  if (db.getRun(runId)) throw new UserError("USAGE", `There is already a run ${runId} in ${db.file}.`, "Resume it instead, or start a run with another ID.");
  const base = loadAgentsConfig(options.agentsConfig ? path.resolve(options.agentsConfig) : undefined);
  const recorded: RecordedOptions = {
    model: options.model ?? env.model ?? DEFAULT_MODEL.uri,
    agents: applyOverrides(base, {
      agents: options.agents,
      roleModels: options.roleModels,
      contextSize: options.contextSize,
      memoryBudget: options.memoryBudget,
      backend: options.backend,
      endpoints: options.endpoints,
      endpointModel: options.endpointModel,
      apiKeyEnv: options.apiKeyEnv,
      endpointSlots: options.endpointSlots,
    }),
    llmReview: options.llmReview ?? true,
    ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
    maxFileBytes: (options.maxFileMb ?? DEFAULT_MAX_FILE_MB) * 1024 * 1024,
  };
  return { input, out, runId, run: undefined, recorded };
}

function resolveResumed(options: PipelineOptions, db: RunDatabase, resumeId: string | undefined): ResolvedRun {
  const input = options.input === undefined ? undefined : path.resolve(options.input);
  const out = options.out === undefined ? (input === undefined ? undefined : path.resolve(DEFAULT_OUT_DIR)) : path.resolve(options.out);
  // Runs record real paths; one recorded by an older version may hold the path as it was given.
  const real = (p: string) => realPathOf(p) ?? p;
  let run: RunRow | undefined;
  if (resumeId) run = db.getRun(resumeId);
  else if (input && out) run = db.latestUnfinished(real(input), real(out)) ?? db.latestUnfinished(input, out);
  else throw new UserError("USAGE", "Resuming the newest unfinished run needs the input directory.", "Pass --input (and --out), or resume a run by its ID.");
  if (!run)
    throw new UserError(
      "NO_RUN_TO_RESUME",
      resumeId ? `There is no run ${resumeId} in ${db.file}.` : `There is no unfinished run for --input ${input} and --out ${out} in ${db.file}.`,
      resumeId ? "List the runs with `npm run runs -- list`." : "Run the same command without --resume to start one.",
    );
  if (run.status === "done" && options.checkpointId === undefined)
    throw new UserError("NO_RUN_TO_RESUME", `Run ${run.id} already finished.`, "Start a new run without --resume.");
  // A run resumed by ID keeps its directories: other ones would mix two knowledge bases.
  const same = (given: string, recorded: string) => given === recorded || real(given) === real(recorded);
  if (resumeId && ((input !== undefined && !same(input, run.input)) || (out !== undefined && options.out !== undefined && !same(out, run.out))))
    throw new UserError(
      "USAGE",
      `Run ${run.id} reads ${run.input} and writes ${run.out}; it cannot be resumed with other directories.`,
      "Resume it without --input/--out, or start a new run.",
    );
  const recorded = JSON.parse(run.settings).options as RecordedOptions;
  // Runs recorded before a config field existed get its default.
  recorded.agents = parseAgentsConfig(recorded.agents, `the agents config recorded with run ${run.id}`);
  if (options.model && options.model !== recorded.model)
    throw new UserError(
      "USAGE",
      `Run ${run.id} was started with --model ${recorded.model}; resuming it with another model would redo its work.`,
      "Resume without --model (it reuses the run's model), or start a new run without --resume.",
    );
  // The servers of a resumed run may have moved: endpoints replace them (the model behind them is checked by identity).
  if (options.endpoints?.length) {
    const remote = Object.values(recorded.agents.models).filter((m) => m.endpoint !== undefined);
    if (remote.length === 0)
      throw new UserError(
        "USAGE",
        `Run ${run.id} runs its models in this process; --endpoint cannot move it to a model server.`,
        "Resume without --endpoint, or start a new run.",
      );
    for (const m of remote) m.endpoint = options.endpoints.length === 1 ? options.endpoints[0] : [...options.endpoints];
  }
  // The directories may have gone (or their links moved) since: say so before any model loads.
  const dirs = checkDirectories(run.input, run.out, true);
  return { input: dirs.input, out: dirs.out, runId: run.id, run, recorded };
}

/**
 * Checks a run's directories by their real paths and returns those: the input exists and is a
 * directory; neither directory is inside the other (the input is only read: a knowledge base
 * inside it would be written there, and read back as notes by a run that does not exclude it);
 * a link that dangles or loops is refused, never taken for a directory to create.
 */
function checkDirectories(givenInput: string, givenOut: string, forceOut: boolean): { input: string; out: string } {
  const st = fs.statSync(givenInput, { throwIfNoEntry: false });
  const input = st ? realPathOf(givenInput) : undefined;
  if (!st || input === undefined)
    throw new UserError(
      "INPUT_NOT_FOUND",
      `The input directory ${givenInput} does not exist${fs.lstatSync(givenInput, { throwIfNoEntry: false })?.isSymbolicLink() ? " (it is a symbolic link that points nowhere)" : ""}.`,
      "Pass --input with a directory of .md, .txt or .json research files.",
    );
  if (!st.isDirectory())
    throw new UserError("INPUT_NOT_DIRECTORY", `--input ${givenInput} is a file, not a directory.`, "Pass the directory that contains it.");
  const out = realPathOf(givenOut);
  if (out === undefined)
    throw new UserError(
      "USAGE",
      `--out ${givenOut} goes through a symbolic link that points nowhere (or loops), so where the knowledge base would be written cannot be checked.`,
      "Remove or fix the link, or choose another --out directory.",
    );
  const via = (given: string, real: string) => (given === real ? "" : ` (${real} once symbolic links are followed)`);
  if (isInside(input, out))
    throw new UserError(
      "OUTPUT_INSIDE_INPUT",
      `--out ${givenOut}${via(givenOut, out)} would contain the input directory ${givenInput}${via(givenInput, input)}.`,
      "Choose an --out directory outside the input, for example ./kb.",
    );
  if (isInside(out, input))
    throw new UserError(
      "OUTPUT_INSIDE_INPUT",
      `--out ${givenOut}${via(givenOut, out)} is inside the input directory ${givenInput}${via(givenInput, input)}, which is only read, never written.`,
      "Choose an --out directory outside the input, for example ./kb beside it.",
    );
  // A directory of someone's files is not a knowledge base: refuse it unless the user says so.
  const usable = KnowledgeBase.isUsableOutDir(out);
  if (!usable.ok && !forceOut)
    throw new UserError(
      "OUTPUT_NOT_KB",
      `--out ${out} is not empty (${usable.entries.join(", ")}${usable.entries.length === 5 ? ", …" : ""}) and holds no knowledge base.`,
      "Choose a new or empty --out directory, or pass --force-out to write the knowledge base there anyway (files the tool did not write are never replaced or removed).",
    );
  return { input, out };
}

/** A new run's ID: a UUIDv7 (time-ordered), so it is also a valid LangGraph thread ID for Studio. */
function newRunId(): string {
  return uuidv7();
}
