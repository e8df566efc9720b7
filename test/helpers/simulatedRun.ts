/**
 * A pipeline run simulated second by second, for the ETA: files of given sizes walk the stages
 * (extractor in chunks, researcher, writer, validator, repair rounds), each stage one or more model
 * calls that read and then generate; one engine reads `readRate` and generates `genRate` tokens per
 * second in all, shared equally by the calls running. It emits the events LlmService and the nodes
 * emit, on a scripted clock.
 */
import type { Role } from "../../src/llm/roles.ts";
import type { PipelineEvent } from "../../src/progress/events.ts";

export interface SimCall {
  role: Role;
  read: number;
  generated: number;
}

export interface SimStage {
  node: string;
  calls: SimCall[];
  patterns?: number;
}

export interface SimOptions {
  sizes: number[];
  /** Files in flight at once (files beyond wait); calls of files in flight all run together. */
  inFlight: number;
  readRate: number;
  genRate: number;
  /** The calls of each file, stage by stage (`patterns`: what the stage's node_finished tells, as the extractor's does). */
  callsOf: (size: number, index: number) => SimStage[];
}

export interface SimTick {
  now: number;
  /** Work done so far, as a fraction of the run's work (engine time). */
  fraction: number;
}

interface Running {
  file: number;
  path: string;
  stages: SimStage[];
  stage: number;
  call: number;
  /** Engine-seconds still needed to read and to generate for the current call. */
  readLeft: number;
  genLeft: number;
  started: number;
  firstToken: number | undefined;
  tick: { read: number; generated: number };
  lastReport: number;
}

/** Runs the simulation; `onTick` is called every simulated second after the events of that second. */
export function simulateRun(
  o: SimOptions,
  emit: (e: PipelineEvent, now: number) => void,
  onTick: (t: SimTick) => void,
): { endMs: number; firstFileMs: number } {
  const paths = o.sizes.map((_, i) => `f${String(i).padStart(2, "0")}.md`);
  const plans = o.sizes.map((s, i) => o.callsOf(s, i));
  const totalWork = plans
    .flat()
    .flatMap((st) => st.calls)
    .reduce((a, c) => a + c.read / o.readRate + c.generated / o.genRate, 0);
  let done = 0;
  let now = 0;
  let next = 0;
  let firstFileMs = -1;
  const running: Running[] = [];
  emit(
    {
      type: "files_discovered",
      found: o.sizes.length,
      toProcess: o.sizes.length,
      skipped: 0,
      files: paths.map((p, i) => ({ path: p, bytes: o.sizes[i] ?? 0 })),
    },
    now,
  );
  const startCall = (r: Running) => {
    const stage = r.stages[r.stage];
    const call = stage?.calls[r.call];
    if (!stage || !call) return;
    r.readLeft = call.read / o.readRate;
    r.genLeft = call.generated / o.genRate;
    r.started = now;
    r.firstToken = undefined;
    r.lastReport = now;
    r.tick = { read: 0, generated: 0 };
    emit({ type: "llm_call_started", role: call.role, path: r.path, waitMs: 0 }, now);
  };
  const admit = () => {
    while (running.length < o.inFlight && next < o.sizes.length) {
      const file = next++;
      const r: Running = {
        file,
        path: paths[file] ?? "",
        stages: plans[file] ?? [],
        stage: 0,
        call: 0,
        readLeft: 0,
        genLeft: 0,
        started: now,
        firstToken: undefined,
        tick: { read: 0, generated: 0 },
        lastReport: now,
      };
      running.push(r);
      emit({ type: "node_started", path: r.path, node: r.stages[0]?.node ?? "extractor" }, now);
      startCall(r);
    }
  };
  admit();
  const stepMs = 1000;
  while (running.length > 0) {
    const share = 1 / running.length;
    now += stepMs;
    for (const r of [...running]) {
      let budget = share;
      const call = r.stages[r.stage]?.calls[r.call];
      if (!call) continue;
      const readSpent = Math.min(budget, r.readLeft);
      r.readLeft -= readSpent;
      budget -= readSpent;
      r.tick.read += readSpent * o.readRate;
      const genSpent = Math.min(budget, r.genLeft);
      r.genLeft -= genSpent;
      r.tick.generated += genSpent * o.genRate;
      done += readSpent + genSpent;
      if (r.firstToken === undefined && r.readLeft <= 1e-9 && genSpent > 0) r.firstToken = now;
      const finished = r.readLeft <= 1e-9 && r.genLeft <= 1e-9;
      if (r.tick.read + r.tick.generated > 0) {
        emit({ type: "llm_tokens", role: call.role, path: r.path, read: r.tick.read, generated: r.tick.generated, ms: now - r.lastReport }, now);
        r.tick = { read: 0, generated: 0 };
        r.lastReport = now;
      }
      if (!finished) continue;
      const ms = now - r.started;
      emit(
        {
          type: "llm_call_finished",
          role: call.role,
          path: r.path,
          outputTokens: call.generated,
          ms,
          memo: false,
          readMs: (r.firstToken ?? now) - r.started,
          waitMs: 0,
          promptTokens: call.read,
          evaluatedTokens: call.read,
        },
        now,
      );
      r.call++;
      if (r.call >= (r.stages[r.stage]?.calls.length ?? 0)) {
        const ended = r.stages[r.stage];
        emit({ type: "node_finished", path: r.path, node: ended?.node ?? "", ...(ended?.patterns !== undefined ? { patterns: ended.patterns } : {}) }, now);
        r.stage++;
        r.call = 0;
        const nextStage = r.stages[r.stage];
        if (!nextStage) {
          emit({ type: "node_started", path: r.path, node: "recordFile" }, now);
          emit({ type: "file_finished", path: r.path, status: "processed", patterns: 1 }, now);
          if (firstFileMs < 0) firstFileMs = now;
          running.splice(running.indexOf(r), 1);
          admit();
          continue;
        }
        emit({ type: "node_started", path: r.path, node: nextStage.node }, now);
      }
      startCall(r);
    }
    onTick({ now, fraction: done / totalWork });
  }
  return { endMs: now, firstFileMs };
}
