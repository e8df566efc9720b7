/**
 * Import rules (issue 15, "the architecture this needs"), checked by `npm run lint:deps` and so by
 * `npm run lint` in CI. Layers, from the bottom up:
 *   src/ (except src/run and src/commands)  providers: model layer, stores, research, kb, input...
 *   nodes/                                   graph nodes, built on the providers
 *   graphs/                                  graph wiring, built on nodes/
 *   src/run/                                 run composition (runPipeline), built on graphs/
 *   src/commands/<name>/                     each command's parser and runner
 *   cli/                                     thin entry points
 * bench/ and test/ sit beside all of it: they may import anything, production code never imports them.
 */
const PRODUCTION = "^(cli|src|nodes|graphs)/";
const PROVIDERS = "^src/(?!run/|commands/)";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "Import cycles make load order and initialisation fragile; break them with a smaller shared module.",
      from: { path: PRODUCTION },
      to: { circular: true },
    },
    {
      name: "no-production-import-of-bench-or-test",
      severity: "error",
      comment: "bench/ and test/ are tools around the product; nothing the product runs may depend on them.",
      from: { path: PRODUCTION },
      to: { path: "^(bench|test)/" },
    },
    {
      name: "providers-stay-below-the-pipeline",
      severity: "error",
      comment: "src/ providers (model layer, stores, research, kb...) know nothing of graphs, nodes, commands or run composition.",
      from: { path: PROVIDERS },
      to: { path: "^(graphs|nodes|cli)/|^src/(run|commands)/" },
    },
    {
      name: "nodes-stay-below-graphs",
      severity: "error",
      comment:
        "Nodes are wired by graphs/, run by src/run and src/commands; they import none of those. The state schema both read lives in nodes/state.ts, below the graphs, so no exception is needed.",
      from: { path: "^nodes/" },
      to: { path: "^(graphs|cli)/|^src/(run|commands)/" },
    },
    {
      name: "config-is-the-bottom",
      severity: "error",
      comment:
        "src/config holds the defaults and the one reader of the environment; every layer imports it, so it imports no other module of src/ (the agents configuration, which names roles and engines, belongs to the model layer: src/llm/agentsConfig.ts).",
      from: { path: "^src/config/" },
      to: { path: "^src/(?!config/)" },
    },
    {
      name: "model-layer-below-progress",
      severity: "error",
      comment:
        "src/progress renders what the model layer reports; src/llm declares what it reports (src/llm/llmEvents.ts: its events, the timer of its phases) and takes a sink and a timer, so it imports nothing of src/progress.",
      from: { path: "^src/llm/" },
      to: { path: "^src/progress/" },
    },
    {
      name: "research-below-kb",
      severity: "error",
      comment:
        "The knowledge base cites research (src/kb links research sources), so research imports nothing of src/kb; what a provider needs of the taxonomy (a category's title for the web query) comes in the query, from the node that owns it.",
      from: { path: "^src/research/" },
      to: { path: "^src/kb/" },
    },
    {
      name: "environment-read-at-the-edge",
      severity: "error",
      comment:
        "The environment is read once, at the edge (cli/, run composition in src/run, scripts, bench), and passed in: providers, nodes and graphs take the values (or an Env they were given) from their caller, so a caller's env decides. They may import src/config/env.ts for its Env type only.",
      from: { path: "^(src/(?!run/|commands/|config/env\\.ts$)|nodes/|graphs/)" },
      to: { path: "^src/config/env\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "graphs-stay-below-commands",
      severity: "error",
      comment: "Graphs are composed into runs by src/run and started by commands; they import neither commands nor cli/.",
      from: { path: "^graphs/" },
      to: { path: "^cli/|^src/commands/" },
    },
    {
      name: "node-llama-cpp-only-in-src-llm-llamaCpp",
      severity: "error",
      comment:
        "node-llama-cpp is loaded through src/llm/llamaCpp.ts alone (types included), so the model layer owns the native library. bench/ and test/ may use it directly.",
      from: { path: PRODUCTION, pathNot: "^src/llm/llamaCpp\\.ts$" },
      to: { path: "node-llama-cpp", dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "better-sqlite3-only-in-openSqlite",
      severity: "error",
      comment:
        "SQLite is opened through src/store/openSqlite.ts alone (pragmas in one place); stores take its SqliteConnection type. bench/, scripts/ and test/ may use it directly.",
      from: { path: PRODUCTION, pathNot: "^src/store/openSqlite\\.ts$" },
      to: { path: "better-sqlite3", dependencyTypes: ["npm", "npm-dev", "npm-optional", "npm-peer", "npm-no-pkg", "npm-unknown"] },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment: "An import that resolves to no file (a typo, or a file that moved); also proves the rules above see real paths.",
      from: { path: PRODUCTION },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(bench/\\.build|kb|checkpoints)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
      extensions: [".ts", ".mjs", ".js", ".cjs", ".json", ".d.ts"],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
