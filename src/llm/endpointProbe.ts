/**
 * What an OpenAI-compatible model server says about itself, asked with plain HTTP GETs before any
 * generation: the models it serves (`/v1/models`), and where the server is llama.cpp's llama-server,
 * its slots, context per slot and model file (`/props`, `/slots`); `tokenizeCount` uses the tokenizer
 * route (`/tokenize`) where there is one. Routes a server lacks are simply absent from the result;
 * only `/v1/models` is required. The API key goes in the Authorization header and nowhere else.
 */

/** A base URL without a trailing slash or `/v1`: the root the server's routes hang from. */
export function endpointRoot(url: string): string {
  let u = url.trim().replace(/\/+$/, "");
  if (u.endsWith("/v1")) u = u.slice(0, -3);
  return u;
}

export interface ServedModel {
  id: string;
  /** llama-server's `meta` (n_params, size, n_ctx_train, n_vocab), vLLM's `max_model_len` / `root`. */
  details: Record<string, string | number>;
}

export interface EndpointProbe {
  root: string;
  models: ServedModel[];
  /** Slots the server reports (llama-server `/props` total_slots or the length of `/slots`). */
  slots?: number;
  /** Tokens one slot holds (llama-server `/props` n_ctx per slot, vLLM max_model_len). */
  contextPerSlot?: number;
  /** Model file the server loaded (llama-server `/props` model_path), base name only. */
  modelFile?: string;
  /** The server answered `/props` as llama.cpp's llama-server does (it takes llama-server's extra request fields). */
  llamaServer?: boolean;
}

export interface ProbeOptions {
  apiKey?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

/** Thrown when the server cannot be reached or answers /v1/models with an error. */
export class EndpointProbeError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "EndpointProbeError";
  }
}

/** GET/POST a JSON route; undefined on a non-2xx answer (the route is absent), throws when unreachable. */
export async function requestJson(
  root: string,
  route: string,
  options: ProbeOptions & { method?: "GET" | "POST"; body?: unknown },
): Promise<{ status: number; json: unknown } | undefined> {
  const doFetch = options.fetch ?? fetch;
  const signals = [AbortSignal.timeout(options.timeoutMs ?? 10_000), ...(options.signal ? [options.signal] : [])];
  const headers: Record<string, string> = { accept: "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const res = await doFetch(`${root}${route}`, {
    method: options.method ?? "GET",
    headers,
    body: options.body === undefined ? null : JSON.stringify(options.body),
    signal: AbortSignal.any(signals),
  });
  const text = await res.text();
  if (!res.ok) return { status: res.status, json: undefined };
  try {
    return { status: res.status, json: JSON.parse(text) };
  } catch {
    return { status: res.status, json: undefined };
  }
}

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : undefined;
}

function baseName(p: string): string {
  return p.split(/[\\/]/).pop() ?? p;
}

/** Asks the server what it serves; only /v1/models must answer. */
export async function probeEndpoint(url: string, options: ProbeOptions = {}): Promise<EndpointProbe> {
  const root = endpointRoot(url);
  let models: Awaited<ReturnType<typeof requestJson>>;
  try {
    models = await requestJson(root, "/v1/models", options);
  } catch (e) {
    throw new EndpointProbeError(`${root} does not answer: ${describeFetchError(e)}`);
  }
  if (!models || models.json === undefined) {
    const status = models?.status;
    throw new EndpointProbeError(
      status === 401 || status === 403
        ? `${root}/v1/models answered ${status}: the server wants an API key (or refused the one given)`
        : `${root}/v1/models answered ${status ?? "no JSON"}: this is not an OpenAI-compatible server (or not its base URL)`,
      status,
    );
  }
  const list = (models.json as { data?: unknown }).data;
  const served: ServedModel[] = [];
  if (Array.isArray(list)) {
    for (const m of list as Record<string, unknown>[]) {
      if (typeof m?.id !== "string") continue;
      const details: Record<string, string | number> = {};
      const meta = m.meta as Record<string, unknown> | undefined;
      for (const k of ["n_params", "size", "n_ctx_train", "n_vocab"]) {
        const v = num(meta?.[k]);
        if (v !== undefined) details[k] = v;
      }
      const maxLen = num(m.max_model_len);
      if (maxLen !== undefined) details.max_model_len = maxLen;
      if (typeof m.root === "string" && m.root !== m.id) details.root = baseName(m.root);
      served.push({ id: m.id, details });
    }
  }
  const probe: EndpointProbe = { root, models: served };
  // llama-server extras: every one optional (other servers answer 404).
  const quiet = async (route: string) => {
    try {
      return (await requestJson(root, route, options))?.json;
    } catch {
      return undefined;
    }
  };
  const [props, slots] = await Promise.all([quiet("/props"), quiet("/slots")]);
  if (props && typeof props === "object") {
    const p = props as { total_slots?: unknown; model_path?: unknown; default_generation_settings?: { n_ctx?: unknown } };
    probe.slots = num(p.total_slots);
    if (probe.slots !== undefined) probe.llamaServer = true;
    probe.contextPerSlot = num(p.default_generation_settings?.n_ctx);
    if (typeof p.model_path === "string" && p.model_path !== "") probe.modelFile = baseName(p.model_path);
  }
  if (Array.isArray(slots) && slots.length > 0) {
    probe.slots ??= slots.length;
    probe.contextPerSlot ??= num((slots[0] as { n_ctx?: unknown })?.n_ctx);
  }
  if (probe.contextPerSlot === undefined) {
    const maxLen = served[0]?.details.max_model_len;
    if (typeof maxLen === "number") probe.contextPerSlot = maxLen;
  }
  return probe;
}

/** The model to ask for: the configured name, else the only (or first) one the server lists. */
export function pickModel(probe: EndpointProbe, wanted: string | undefined): ServedModel | undefined {
  if (wanted === undefined) return probe.models[0];
  // llama-server serves one model under whatever name is asked; others must list it.
  return probe.models.find((m) => m.id === wanted || baseName(m.id) === wanted);
}

/**
 * The identity recorded with every call and compared by the ledger: the model name (a path's base
 * name, so the same file on two hosts is the same model) plus the file and size details the server
 * exposes. The URL is not part of it: the same model moved to another server is the same model.
 */
export function modelIdentity(probe: EndpointProbe, model: ServedModel): string {
  const name = /[\\/]/.test(model.id) ? baseName(model.id) : model.id;
  const parts: string[] = [];
  if (probe.modelFile && probe.modelFile !== name) parts.push(`file=${probe.modelFile}`);
  for (const [k, v] of Object.entries(model.details).sort(([a], [b]) => a.localeCompare(b))) parts.push(`${k}=${v}`);
  return `endpoint:${name}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

/** POST /tokenize on llama-server ({content}) or vLLM ({model, prompt}); the token count, or undefined. */
export async function tokenizeCount(root: string, text: string, model: string, options: ProbeOptions = {}): Promise<number | undefined> {
  try {
    const r = await requestJson(root, "/tokenize", { ...options, method: "POST", body: { content: text, prompt: text, model, add_special: false } });
    const tokens = (r?.json as { tokens?: unknown } | undefined)?.tokens;
    return Array.isArray(tokens) ? tokens.length : undefined;
  } catch {
    return undefined;
  }
}

/** A fetch failure in words (undici hides the reason in `cause`). */
export function describeFetchError(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError") return "timed out";
  const cause = err?.cause?.code ?? err?.cause?.message;
  return cause ? `${err?.message ?? "fetch failed"} (${cause})` : (err?.message ?? String(e));
}
