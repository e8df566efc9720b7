/**
 * `npm run studio [-- --port N] [--model PATH]`: starts the LangGraph dev server on 127.0.0.1 with
 * analytics off, serving the pipeline graph (langgraph.json). The API works offline; the Studio web
 * UI is a hosted page that needs internet in your browser.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readEnv } from "../src/config/env.ts";
import { configWithOrigins, parseOrigin } from "../src/studio/studioPolicy.ts";

const HELP = `Usage: npm run studio -- [--port N] [--model PATH|URI] [--threads N] [--no-reload]
                          [--root DIR ...] [--allow-origin ORIGIN ...]
                          [--endpoint URL ... [--endpoint-model NAME] [--api-key-env NAME]]

Starts the LangGraph dev server on 127.0.0.1 (default port 2124; 2024 is often taken) with the
pipeline graph "rust_kb". Open the hosted Studio at
  https://smith.langchain.com/studio/?baseUrl=http://127.0.0.1:PORT
(needs internet in the browser), or call the API directly (works offline).
Runs may read and write only under --root (repeatable; default: the directory you started in).
Browsers may call the server only from the hosted Studio and localhost pages; --allow-origin
(repeatable) adds an origin. Requests must send JSON bodies. See docs/SECURITY.md.
--endpoint (repeatable), --endpoint-model and --api-key-env run the graph's models on
OpenAI-compatible model servers, as with npm run graph (docs/SCALING.md).`;

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    model: { type: "string" },
    threads: { type: "string" },
    endpoint: { type: "string", multiple: true },
    "endpoint-model": { type: "string" },
    "api-key-env": { type: "string" },
    root: { type: "string", multiple: true },
    "allow-origin": { type: "string", multiple: true },
    "no-reload": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}
const port = values.port ?? "2124";
if (!/^\d+$/.test(port)) {
  process.stderr.write(`error: --port must be a number, got "${port}"\n`);
  process.exit(2);
}
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const env = readEnv();
// Directories runs may use: --root, else where the user started `npm run studio` (npm runs scripts in the repo).
const startDir = env.initCwd ?? process.cwd();
const roots = (values.root?.length ? values.root : [startDir]).map((r) => path.resolve(startDir, r));
for (const r of roots)
  if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) {
    process.stderr.write(`error: --root ${r} is not a directory\n`);
    process.exit(2);
  }
let origins: string[];
try {
  origins = [...env.studioOrigins, ...(values["allow-origin"] ?? [])].map(parseOrigin);
} catch (e) {
  process.stderr.write(`error: --allow-origin: ${(e as Error).message}\n`);
  process.exit(2);
}
// langgraph.json allows the hosted Studio and localhost; extra origins go into a copy made for this server.
let config = path.join(repo, "langgraph.json");
if (origins.length > 0) {
  const base = JSON.parse(fs.readFileSync(config, "utf8")) as { http?: { cors?: Record<string, unknown> } };
  config = path.join(repo, `.langgraph.studio-${process.pid}.json`);
  fs.writeFileSync(config, `${JSON.stringify(configWithOrigins(base, origins), null, 2)}\n`);
  const generated = config;
  process.on("exit", () => fs.rmSync(generated, { force: true }));
}
process.stderr.write(`Studio runs may use: ${roots.join(", ")}\n`);
const bin = path.join(repo, "node_modules", ".bin", "langgraphjs");
const args = ["dev", "--host", "127.0.0.1", "--port", port, "--no-browser", "--config", config];
if (values["no-reload"]) args.push("--no-reload");
const child = spawn(bin, args, {
  cwd: repo,
  stdio: "inherit",
  env: {
    ...process.env,
    LANGGRAPH_CLI_NO_ANALYTICS: "1",
    RUST_KB_STUDIO_ROOTS: roots.join(path.delimiter),
    RUST_KB_STUDIO_ORIGINS: origins.join(","),
    ...(values.model ? { RUST_KB_MODEL: values.model } : {}),
    ...(values.threads ? { RUST_KB_THREADS: values.threads } : {}),
    ...(values.endpoint?.length ? { RUST_KB_STUDIO_ENDPOINTS: values.endpoint.join(",") } : {}),
    ...(values["endpoint-model"] ? { RUST_KB_STUDIO_ENDPOINT_MODEL: values["endpoint-model"] } : {}),
    ...(values["api-key-env"] ? { RUST_KB_STUDIO_API_KEY_ENV: values["api-key-env"] } : {}),
  },
});
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => child.kill(sig));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
