import { parseArgs } from "node:util";
import { DEFAULT_RUN_DB } from "../../config/defaults.ts";

export interface StudioOptions {
  /** The run database served (default: the CLI's, so `npm run graph` runs appear as threads). */
  db: string;
  /** TCP port on 127.0.0.1 (0: any free port; the server prints the one it got). */
  port: number;
  /** `--root DIR` (repeatable): the only directories Studio runs may read and write; empty = where the user started. */
  roots: string[];
  /** `--allow-origin ORIGIN` (repeatable): browser origins allowed besides the hosted Studio and localhost. */
  allowOrigins: string[];
  /** Model options of runs started from Studio (resumed runs reuse their recorded models), as `npm run graph` takes them. */
  model?: string;
  threads?: number;
  endpoints?: string[];
  endpointModel?: string;
  apiKeyEnv?: string;
  /** `--research LIST` and `--concurrency N`, as `npm run graph` takes them (resumed runs too: a run does not record them). */
  research?: ("input" | "docs" | "tavily")[];
  concurrency?: number;
  /** `--compact`: compact a run that finishes from Studio, as the CLI does (default: keep its step history for time travel). */
  compact: boolean;
}

export type StudioCommand = { kind: "run"; options: StudioOptions } | { kind: "help" } | { kind: "error"; message: string };

const DEFAULT_STUDIO_PORT = 2124;

export const STUDIO_HELP = `Usage: npm run studio -- [--db PATH] [--port N] [--root DIR ...] [--allow-origin ORIGIN ...]
                          [--model PATH|URI] [--threads N] [--concurrency N] [--research LIST] [--compact]
                          [--endpoint URL ... [--endpoint-model NAME] [--api-key-env NAME]]

Serves the run database (default ${DEFAULT_RUN_DB}, the one \`npm run graph\` writes) to LangGraph
Studio on 127.0.0.1 (default port ${DEFAULT_STUDIO_PORT}; 0 picks a free one). Every run is a thread whose
ID is the run ID: open its state and history, fork from a checkpoint, resume it. Open the hosted Studio at
  https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:PORT
(needs internet in the browser), or call the API with @langchain/langgraph-sdk (works offline).
Runs may read and write only under --root (repeatable; default: the directory you started in).
Browsers may call the server only from the hosted Studio and localhost pages; --allow-origin
(repeatable) adds an origin. Requests must send JSON bodies. See docs/STUDIO.md and docs/SECURITY.md.
--model, --endpoint, --endpoint-model and --api-key-env choose the models of runs started from Studio,
as with npm run graph (a resumed run keeps its own); --threads, --concurrency and --research apply to
every run the server starts or resumes. Runs that finish from Studio keep
their step history (as --keep-history); --compact drops it as the CLI does.`;

/** Pure: argv in, a command out. */
export function parseStudioArgs(argv: readonly string[]): StudioCommand {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        db: { type: "string" },
        port: { type: "string" },
        root: { type: "string", multiple: true },
        "allow-origin": { type: "string", multiple: true },
        model: { type: "string" },
        threads: { type: "string" },
        concurrency: { type: "string" },
        research: { type: "string" },
        endpoint: { type: "string", multiple: true },
        "endpoint-model": { type: "string" },
        "api-key-env": { type: "string" },
        compact: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    return { kind: "error", message: (e as Error).message };
  }
  const v = parsed.values as Record<string, string | string[] | boolean | undefined>;
  if (v.help) return { kind: "help" };
  const portText = (v.port as string | undefined) ?? String(DEFAULT_STUDIO_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) return { kind: "error", message: `--port must be a number from 0 to 65535, got "${portText}"` };
  const positive = (name: string): number | undefined | string => {
    if (v[name] === undefined) return undefined;
    const n = Number(v[name]);
    return Number.isInteger(n) && n > 0 ? n : `--${name} must be a positive integer, got "${v[name]}"`;
  };
  const threads = positive("threads");
  if (typeof threads === "string") return { kind: "error", message: threads };
  const concurrency = positive("concurrency");
  if (typeof concurrency === "string") return { kind: "error", message: concurrency };
  const research = (v.research as string | undefined)?.split(",").map((r) => r.trim());
  if (research && (research.length === 0 || research.some((r) => !["input", "docs", "tavily"].includes(r))))
    return { kind: "error", message: `--research takes input, docs and tavily, comma-separated, got "${v.research}"` };
  const endpoints = v.endpoint as string[] | undefined;
  if ((v["endpoint-model"] !== undefined || v["api-key-env"] !== undefined) && !endpoints?.length)
    return { kind: "error", message: "--endpoint-model and --api-key-env need --endpoint URL" };
  return {
    kind: "run",
    options: {
      db: (v.db as string | undefined) ?? DEFAULT_RUN_DB,
      port,
      roots: (v.root as string[] | undefined) ?? [],
      allowOrigins: (v["allow-origin"] as string[] | undefined) ?? [],
      compact: v.compact === true,
      ...(v.model !== undefined ? { model: v.model as string } : {}),
      ...(threads !== undefined ? { threads } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(research ? { research: research as ("input" | "docs" | "tavily")[] } : {}),
      ...(endpoints?.length ? { endpoints } : {}),
      ...(v["endpoint-model"] !== undefined ? { endpointModel: v["endpoint-model"] as string } : {}),
      ...(v["api-key-env"] !== undefined ? { apiKeyEnv: v["api-key-env"] as string } : {}),
    },
  };
}
