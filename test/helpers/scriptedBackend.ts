import type { BackendRequest, BackendResult, ModelBackend } from "../../src/llm/types.ts";

export type Script = (request: BackendRequest, callIndex: number) => string | Partial<BackendResult> | Promise<string | Partial<BackendResult>>;

/**
 * A scripted stand-in for a loaded model, for tests about graph logic: it answers each request
 * with what the script returns, records every request (so tests can assert on prompts), and can
 * be slowed down to exercise concurrency.
 */
export class ScriptedBackend implements ModelBackend {
  readonly modelId: string;
  readonly contextTokens: number;
  readonly requests: BackendRequest[] = [];
  private readonly script: Script;
  private readonly delayMs: number;

  constructor(script: Script, options: { modelId?: string; contextTokens?: number; delayMs?: number } = {}) {
    this.script = script;
    this.modelId = options.modelId ?? "scripted@0";
    this.contextTokens = options.contextTokens ?? 8192;
    this.delayMs = options.delayMs ?? 0;
  }

  get calls(): number {
    return this.requests.length;
  }

  callsFor(role: BackendRequest["role"]): BackendRequest[] {
    return this.requests.filter((r) => r.role === role);
  }

  countTokens(text: string): number {
    return Math.ceil(text.length / 4);
  }

  async generate(request: BackendRequest): Promise<BackendResult> {
    const index = this.requests.length;
    this.requests.push(request);
    request.onStart?.();
    if (this.delayMs > 0) await sleep(this.delayMs, request.signal);
    const answer = await this.script(request, index);
    const result = typeof answer === "string" ? { text: answer } : answer;
    const text = result.text ?? "";
    return {
      text,
      inputTokens: result.inputTokens ?? this.countTokens(request.prompt.system + request.prompt.user),
      outputTokens: result.outputTokens ?? this.countTokens(text),
      stopReason: result.stopReason ?? "eogToken",
    };
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason ?? new Error("aborted"));
      },
      { once: true },
    );
  });
}

/** Path of a tiny test model in ../shared/models, resolved from the repository root. */
export function sharedModel(name: string): string {
  return new URL(`../../../shared/models/${name}`, import.meta.url).pathname;
}

/**
 * The project's own trained test model (test/fixtures/models/rust-kb-tiny.md): answers every role's
 * task in shape, so runs with it reach the success path (pages, site, search) offline.
 */
export function trainedModel(): string {
  return new URL("../fixtures/models/rust-kb-tiny.gguf", import.meta.url).pathname;
}

/** Path of the shared corpus. */
export function sharedCorpus(...parts: string[]): string {
  return new URL(`../../../shared/corpus/${parts.join("/")}`, import.meta.url).pathname;
}

/** The pattern keys a structured request answers for (`{"byPattern": {"p1": …}}` schemas), or undefined for a single answer. */
export function patternKeys(request: BackendRequest): string[] | undefined {
  const props = (request.grammarSchema as { properties?: { byPattern?: { properties?: Record<string, unknown> } } } | undefined)?.properties;
  const per = props?.byPattern?.properties;
  return per ? Object.keys(per) : undefined;
}

/**
 * Answers a request with `answer(key)` for every pattern it covers (the researcher, writer and
 * validator answer for all of a file's patterns in one call), or with `answer("")` when the schema
 * is not per pattern. A string answer is returned as it is (to script output that does not parse).
 */
export function answerPerPattern(request: BackendRequest, answer: (key: string) => unknown): string {
  const keys = patternKeys(request);
  const one = answer(keys?.[0] ?? "");
  if (typeof one === "string") return one;
  return JSON.stringify(keys ? { byPattern: Object.fromEntries(keys.map((k, i) => [k, i === 0 ? one : answer(k)])) } : one);
}

/**
 * A valid answer for every role: the extractor finds `pattern` (citing S1), the researcher keeps
 * nothing, the writer's draft passes every deterministic check, the validator passes it, and the
 * synthesizer keeps entries apart.
 */
export function passingAnswer(request: BackendRequest, pattern: { name: string; summary: string }): string {
  switch (request.role) {
    case "extractor":
      return JSON.stringify({ patterns: [{ name: pattern.name, category: "type-safety", summary: pattern.summary, evidence: ["S1"] }] });
    case "researcher":
      return answerPerPattern(request, () => ({ relevant: [], note: "" }));
    case "writer":
      return answerPerPattern(request, () => ({
        summary: "This pattern gives a value its own type so the compiler keeps distinct meanings apart in every call.",
        whenToUse: ["when two values share a representation but not a meaning"],
        whenNotToUse: ["when the wrapper adds only boilerplate"],
        pitfalls: [],
        example: "none",
        sources: [],
      }));
    case "validator":
      return answerPerPattern(request, () => ({ verdict: "pass", problems: [] }));
    case "synthesizer":
      return JSON.stringify({ verdict: "different", reason: "scripted" });
  }
  throw new Error(`unexpected role ${request.role}`);
}
