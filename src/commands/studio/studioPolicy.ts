/**
 * What the Studio server (`npm run studio`) accepts, as pure functions: which browser
 * origins may call it (CORS), which requests reach the API at all, and which directories a run may
 * read and write. A web page open in the user's browser must not be able to start runs: browsers
 * send simple cross-origin POSTs (text/plain, forms) without asking first, so the server refuses
 * every request that carries a foreign Origin, a body that is not JSON, or a Host that is not the
 * loopback name it listens on (a DNS-rebinding page's requests carry its own host name).
 */
import path from "node:path";
import { UserError } from "../../errors.ts";
import { isInside, realPathOf } from "../../util/realPathOf.ts";

/** The hosted Studio (the LangSmith UI) that talks to the local server from the user's browser. */
const HOSTED_STUDIO_ORIGIN = "https://smith.langchain.com";
const LOOPBACK_ORIGIN = String.raw`https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?`;
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Normalises a configured origin (`https://host[:port]`, no path) or throws a usage error. */
export function parseOrigin(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new UserError(
      "USAGE",
      `${JSON.stringify(text)} is not an origin.`,
      "Give an origin such as https://studio.example.com (scheme, host and port only).",
    );
  }
  if (!/^https?:$/.test(url.protocol) || url.pathname.replace(/\/$/, "") !== "" || url.search || url.hash || url.username)
    throw new UserError(
      "USAGE",
      `${JSON.stringify(text)} is not an origin.`,
      "Give an origin such as https://studio.example.com (scheme, host and port only).",
    );
  return url.origin;
}

/** One regex matching exactly the allowed origins. */
function allowedOriginRegex(extraOrigins: readonly string[] = []): string {
  const listed = [HOSTED_STUDIO_ORIGIN, ...extraOrigins.map(parseOrigin)].map(escapeRegex);
  return `^(${[...new Set(listed)].join("|")}|${LOOPBACK_ORIGIN})$`;
}

export function isAllowedOrigin(origin: string, extraOrigins: readonly string[] = []): boolean {
  return new RegExp(allowedOriginRegex(extraOrigins)).test(origin);
}

/** A page served from this machine's loopback address (the only origin the MCP server, `npm run kb -- mcp --http`, accepts). */
export function isLoopbackOrigin(origin: string): boolean {
  return new RegExp(`^${LOOPBACK_ORIGIN}$`).test(origin);
}

export interface RequestFacts {
  method: string;
  /** Header values as sent (undefined when absent). */
  origin: string | undefined;
  host: string | undefined;
  contentType: string | undefined;
  contentLength: string | undefined;
  transferEncoding: string | undefined;
}

export interface Refusal {
  status: 403 | 415;
  message: string;
}

/** Why the request must not reach the API, or undefined to let it through. */
export function refuseRequest(req: RequestFacts, extraOrigins: readonly string[] = []): Refusal | undefined {
  if (req.host === undefined || !LOOPBACK_HOST.test(req.host))
    return { status: 403, message: `This server answers only on its loopback address, not as ${JSON.stringify(req.host ?? "")}.` };
  if (req.origin !== undefined && !isAllowedOrigin(req.origin, extraOrigins))
    return {
      status: 403,
      message: `Requests from ${req.origin} are refused: only the hosted Studio and localhost pages may call this server (npm run studio -- --allow-origin ORIGIN adds one).`,
    };
  const method = req.method.toUpperCase();
  if (method === "GET" || method === "HEAD" || method === "OPTIONS") return undefined;
  const hasBody = (req.contentLength !== undefined && req.contentLength.trim() !== "0") || req.transferEncoding !== undefined;
  const media = (req.contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (hasBody && !/^application\/([\w.-]+\+)?json$/.test(media))
    return { status: 415, message: `Request bodies must be JSON (Content-Type: application/json), not ${JSON.stringify(media || "none")}.` };
  return undefined;
}

/**
 * Resolves a run's directory (relative paths against the first root) and checks that it lies inside
 * one of the roots, symbolic links followed (src/util/realPathOf.ts). Returns that real path, the
 * one checked, for the run to use; throws PATH_OUTSIDE_ROOTS, also for a path through a symbolic
 * link that dangles or loops (a later mkdir would follow it wherever it points by then).
 */
export function confineToRoots(dir: unknown, roots: readonly string[], what: "inputDir" | "outDir"): string {
  if (typeof dir !== "string" || dir.trim() === "")
    throw new UserError("USAGE", `The run input needs "${what}" (a directory path).`, 'Start the run with {"inputDir": "notes", "outDir": "kb"}.');
  const first = roots[0];
  if (first === undefined) throw new UserError("PATH_OUTSIDE_ROOTS", "This Studio server has no allowed directories.", "Restart it with --root DIR.");
  const absolute = path.resolve(first, dir);
  const real = realPathOf(absolute);
  if (real === undefined)
    throw new UserError(
      "PATH_OUTSIDE_ROOTS",
      `${what} ${absolute} goes through a symbolic link that points nowhere (or loops), so where it leads cannot be checked.`,
      "Remove or fix the link, or use another directory.",
    );
  const inside = roots.some((r) => {
    const realRoot = realPathOf(r);
    return realRoot !== undefined && isInside(real, realRoot);
  });
  if (!inside)
    throw new UserError(
      "PATH_OUTSIDE_ROOTS",
      `${what} ${absolute} is outside the directories this Studio server may use (${roots.join(", ")}).`,
      "Use a directory under one of them, or restart the server with `npm run studio -- --root DIR` for that directory.",
    );
  return real;
}
