/**
 * A scripted OpenAI-compatible model server on loopback, for tests of the HTTP backend: /v1/models,
 * optionally llama-server's /props, /slots, /health and /tokenize, and /v1/chat/completions with or
 * without streaming. It records every request (body and headers) and can be told to answer slowly,
 * fail, cut a stream, hang, or ignore JSON schemas.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatBody {
  model: string;
  messages: { role: string; content: string }[];
  max_tokens?: number;
  temperature?: number;
  seed?: number;
  stream?: boolean;
  response_format?: { type: string; json_schema?: { name: string; schema: Record<string, unknown>; strict?: boolean } };
}

export interface ScriptedReply {
  text?: string;
  /** Delay before the first chunk and between chunks (ms). */
  delayMs?: number;
  /** Characters per streamed chunk (default 4). */
  chunkChars?: number;
  finishReason?: "stop" | "length";
  usage?: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details?: { cached_tokens: number } } | null;
  timings?: Record<string, number>;
  /** Answer with this HTTP status and an error body instead. */
  status?: number;
  /** Destroy the socket after this many chunks (a server that dies mid-stream). */
  cutAfterChunks?: number;
  /** Never answer (a hung server). */
  hang?: boolean;
}

export interface ServerOptions {
  models?: { id: string; meta?: Record<string, number> }[];
  /** llama-server's /props; omitted = 404 (as on Ollama, LM Studio, vLLM). */
  props?: Record<string, unknown>;
  slotsRoute?: boolean;
  health?: boolean;
  /** /tokenize answers with one token per N characters (llama-server style); omitted = 404. */
  charsPerToken?: number;
  /** Replies to chat calls; default: a JSON object the probe accepts, then "ok". */
  reply?: (body: ChatBody, index: number) => ScriptedReply | Promise<ScriptedReply>;
  /** Answer the JSON-schema probe without following the schema. */
  ignoreSchema?: boolean;
  /** Answer the JSON-schema probe (and only it) with this HTTP status (a server that rejects response_format). */
  probeStatus?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export class ScriptedOpenAiServer {
  readonly requests: RecordedRequest[] = [];
  /** Chat calls currently being answered, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Chat calls answered completely (the stream finished with [DONE]). */
  completed = 0;
  /** Chat calls whose client went away before the answer finished. */
  clientAborts = 0;
  /** Set to false to make /health (and /v1/models) hang. */
  healthy = true;
  private readonly server: http.Server;
  private readonly sockets = new Set<import("node:net").Socket>();
  private chatIndex = 0;
  url = "";

  constructor(private readonly options: ServerOptions = {}) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Chat requests other than the start-up JSON-schema probe. */
  chatCalls(): ChatBody[] {
    return this.requests
      .filter((r) => r.url === "/v1/chat/completions")
      .map((r) => r.body as ChatBody)
      .filter((b) => b.response_format?.json_schema?.name !== "probe");
  }

  /** Stops listening and cuts every open connection (a killed server). */
  async kill(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let raw = "";
    for await (const c of req) raw += c;
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const url = req.url ?? "";
    this.requests.push({ method: req.method ?? "", url, headers: req.headers, body });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if ((url === "/health" || url === "/v1/models") && !this.healthy) return; // hang
    if (url === "/v1/models") {
      return json(200, { object: "list", data: (this.options.models ?? [{ id: "scripted-model" }]).map((m) => ({ object: "model", owned_by: "test", ...m })) });
    }
    if (url === "/props" && this.options.props) return json(200, this.options.props);
    if (url === "/slots" && this.options.slotsRoute) {
      const n = Number(this.options.props?.total_slots ?? 1);
      return json(
        200,
        Array.from({ length: n }, (_, id) => ({ id, n_ctx: 512, is_processing: false })),
      );
    }
    if (url === "/health" && this.options.health) return json(200, { status: "ok" });
    if (url === "/tokenize" && this.options.charsPerToken) {
      const content = String((body as { content?: string }).content ?? "");
      return json(200, { tokens: Array.from({ length: Math.ceil(content.length / (this.options.charsPerToken ?? 1)) }, (_, i) => i) });
    }
    if (url === "/v1/chat/completions" && req.method === "POST") return this.chat(body as ChatBody, req, res);
    json(404, { error: { message: "not found" } });
  }

  private async chat(body: ChatBody, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const isProbe = body.response_format?.json_schema?.name === "probe";
    const reply: ScriptedReply = isProbe
      ? this.options.probeStatus
        ? { status: this.options.probeStatus }
        : {
            text: this.options.ignoreSchema ? "Sure! Here is JSON." : '{"probe":"rust-kb-ok"}',
          }
      : await (this.options.reply ?? (() => ({ text: "ok" })))(body, this.chatIndex++);
    if (reply.status) {
      res.writeHead(reply.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `scripted ${reply.status}`, type: "server_error" } }));
      return;
    }
    if (reply.hang) return;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    let closed = false;
    res.on("close", () => {
      if (!res.writableFinished) {
        closed = true;
        this.clientAborts++;
      }
    });
    try {
      const text = reply.text ?? "ok";
      const usage =
        reply.usage === null
          ? undefined
          : (reply.usage ?? { prompt_tokens: body.messages.reduce((a, m) => a + m.content.length, 0), completion_tokens: Math.ceil(text.length / 4) });
      const finish = reply.finishReason ?? "stop";
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      if (!body.stream) {
        if (reply.delayMs) await sleep(reply.delayMs);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id: "c",
            object: "chat.completion",
            model: body.model,
            choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }],
            usage,
          }),
        );
        this.completed++;
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const size = reply.chunkChars ?? 4;
      const pieces: string[] = [];
      for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
      const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
      for (const [i, piece] of pieces.entries()) {
        if (reply.delayMs) await sleep(reply.delayMs);
        if (closed) return;
        if (reply.cutAfterChunks !== undefined && i >= reply.cutAfterChunks) {
          req.socket.destroy();
          return;
        }
        send({ id: "c", object: "chat.completion.chunk", model: body.model, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
      }
      if (closed) return;
      send({
        id: "c",
        object: "chat.completion.chunk",
        model: body.model,
        choices: [{ index: 0, delta: {}, finish_reason: finish }],
        ...(reply.timings ? { timings: reply.timings } : {}),
      });
      if (usage) send({ id: "c", object: "chat.completion.chunk", model: body.model, choices: [], usage });
      res.write("data: [DONE]\n\n");
      res.end();
      this.completed++;
    } finally {
      this.inFlight--;
    }
  }
}

/** Starts a scripted server (closed by the caller with kill()). */
export function scriptedServer(options: ServerOptions = {}): Promise<ScriptedOpenAiServer> {
  return new ScriptedOpenAiServer(options).start();
}
