/**
 * Bundles the benchmark CLI (bench/cli.ts, so `--job --engine`) and bench/gpu/untrainedModel.ts into
 * one ESM file each with esbuild, for a machine without Node's toolchain or node_modules
 * (bench/gpu/packJob.sh, run by bench/gpu/jobGpu.sh on the GPU machine).
 *
 *   node bench/gpu/bundleJob.mjs OUT_DIR
 *
 * - Native or file-loading packages stay outside the bundle (EXTERNAL): packJob.sh copies them into
 *   OUT_DIR/node_modules, beside the bundle, where Node resolves them.
 * - The project's own files find their data (config/, prompts/, test/fixtures/models, src/kb/publish/site/assets,
 *   bench/.build/bin) relative to their own path (`import.meta.url`): in the bundle every
 *   `import.meta.url` of a repository file becomes that file's URL under a root chosen at run time,
 *   RUST_KB_BUNDLE_ROOT (default: the current directory), so the bundle behaves as if run from a checkout
 *   at that root. Packages keep their own `import.meta.url` (the bundle's).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const outDir = process.argv[2];
if (!outDir) throw new Error("usage: node bench/gpu/bundleJob.mjs OUT_DIR");

/** Loaded at run time from OUT_DIR/node_modules: native addons, wasm beside the module, forked helper scripts. */
const EXTERNAL = ["node-llama-cpp", "@node-llama-cpp/*", "better-sqlite3", "web-tree-sitter", "tree-sitter-rust"];

/**
 * What of each external package is copied (a path relative to the package folder -> keep?) and
 * whether its dependencies follow. node-llama-cpp: its JavaScript and its dependencies (it forks its
 * own scripts to test the binding), not the llama.cpp source bundle; its CPU prebuilt
 * (@node-llama-cpp/linux-x64) with two of the CPU variants (x64, haswell: the token counter loads the
 * model vocabulary-only and computes nothing); better-sqlite3's compiled addon and loader; the two
 * tree-sitter wasm files. Other optional prebuilts (CUDA, Vulkan, other platforms) are left out.
 */
const PACKAGES = {
  "node-llama-cpp": { keep: (p) => !/^llama\/(gitRelease\.bundle|addon\/|xpack\/|toolchains\/)|^templates\//.test(p), follow: true },
  "@node-llama-cpp/linux-x64": { keep: (p) => !/libggml-cpu-/.test(p) || /libggml-cpu-(x64|haswell)\.so$/.test(p), follow: false },
  "better-sqlite3": { keep: (p) => p === "package.json" || p.startsWith("lib/") || p === "build/Release/better_sqlite3.node", follow: true },
  "web-tree-sitter": { keep: (p) => ["package.json", "tree-sitter.js", "tree-sitter.cjs", "tree-sitter.wasm"].includes(p), follow: false },
  "tree-sitter-rust": { keep: (p) => ["package.json", "tree-sitter-rust.wasm"].includes(p), follow: false },
};
/** Dependencies never followed: install-time only, or prebuilts of other machines. */
const SKIP_DEPENDENCY = (name) => name === "prebuild-install" || (name.startsWith("@node-llama-cpp/") && name !== "@node-llama-cpp/linux-x64");
/** Files no run needs, in any copied package. */
const JUNK = /(\.d\.[cm]?ts|\.map|\.md|\.markdown|(^|\/)(LICENSE|LICENCE|CHANGELOG|README)[^/]*)$|(^|\/)(test|tests|__tests__|docs|\.github)\//i;

const banner = [
  'import { createRequire as __kbCreateRequire } from "node:module";',
  'import { fileURLToPath as __kbFileURLToPath, pathToFileURL as __kbPathToFileURL } from "node:url";',
  'import { dirname as __kbDirname, join as __kbJoin } from "node:path";',
  "const require = __kbCreateRequire(import.meta.url);",
  "const __filename = __kbFileURLToPath(import.meta.url);",
  "const __dirname = __kbDirname(__filename);",
  "const __kbRoot = process.env.RUST_KB_BUNDLE_ROOT || process.cwd();",
  "const __kbUrl = (rel) => __kbPathToFileURL(__kbJoin(__kbRoot, rel)).href;",
].join("\n");

/** Replaces `import.meta.url` in the repository's own sources with the file's URL under the run-time root. */
const repoRelativeUrls = {
  name: "repo-relative-import-meta-url",
  setup(build) {
    build.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, async (args) => {
      const rel = path.relative(repo, args.path);
      if (rel.startsWith("..") || rel.split(path.sep).includes("node_modules")) return undefined;
      const source = await fs.promises.readFile(args.path, "utf8");
      const posix = rel.split(path.sep).join("/");
      return { contents: source.replaceAll("import.meta.url", `__kbUrl(${JSON.stringify(posix)})`), loader: args.path.endsWith("js") ? "js" : "ts" };
    });
  },
};

const entries = { job: "bench/cli.ts", untrainedModel: "bench/gpu/untrainedModel.ts" };
for (const [name, entry] of Object.entries(entries)) {
  const result = await esbuild.build({
    absWorkingDir: repo,
    entryPoints: [entry],
    outfile: path.join(outDir, `${name}.mjs`),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // ESM builds first: a UMD "main" (jsonc-parser's) requires its parts at run time, which a bundle cannot.
    mainFields: ["module", "main"],
    external: EXTERNAL,
    banner: { js: banner },
    plugins: [repoRelativeUrls],
    metafile: true,
    logLevel: "warning",
    legalComments: "none",
  });
  const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
  process.stdout.write(`${name}.mjs: ${entry}, ${Object.keys(result.metafile.inputs).length} inputs, ${(bytes / 1048576).toFixed(1)} MiB\n`);
}

/** The folder Node would load `name` from when required from `fromDir` (walking up node_modules), or undefined. */
function packageDir(name, fromDir) {
  for (let dir = fromDir; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(candidate, "package.json"))) return candidate;
    if (dir === repo || dir === path.dirname(dir)) return undefined;
  }
}

/** Copies the external packages and their dependencies into OUT_DIR/node_modules, at the same relative paths. */
function copyExternals() {
  const queue = Object.keys(PACKAGES).map((name) => ({ name, from: repo }));
  const seen = new Set();
  let files = 0;
  let bytes = 0;
  while (queue.length > 0) {
    const { name, from } = queue.shift();
    const dir = packageDir(name, from);
    if (!dir) throw new Error(`${name} is not installed (needed from ${path.relative(repo, from) || "."})`);
    if (seen.has(dir)) continue;
    seen.add(dir);
    const rule = PACKAGES[name] ?? { keep: () => true, follow: true };
    for (const rel of fs.readdirSync(dir, { recursive: true })) {
      const p = rel.split(path.sep).join("/");
      const src = path.join(dir, rel);
      if (p.split("/").includes("node_modules") || JUNK.test(p) || !rule.keep(p)) continue;
      const stat = fs.lstatSync(src);
      if (!stat.isFile() && !stat.isSymbolicLink()) continue;
      const dest = path.join(outDir, path.relative(repo, src));
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(src, dest);
      files++;
      bytes += fs.statSync(src).size;
    }
    if (!rule.follow) continue;
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      if (SKIP_DEPENDENCY(dep)) continue;
      if (!pkg.dependencies?.[dep] && !packageDir(dep, dir)) continue; // an optional dependency not installed
      queue.push({ name: dep, from: dir });
    }
  }
  process.stdout.write(`node_modules: ${seen.size} packages, ${files} files, ${(bytes / 1048576).toFixed(1)} MiB\n`);
}

copyExternals();
