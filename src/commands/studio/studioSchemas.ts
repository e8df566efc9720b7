/**
 * JSON schemas of the pipeline's input and state for Studio's forms and state views
 * (GET /assistants/:id/schemas and /subgraphs). The state is declared with LangGraph's Annotation
 * (nodes/state.ts), which carries no runtime schema, so they are written out here; a unit test
 * checks that they name every state key.
 */
import { ASSISTANT_ID, GRAPH_ID } from "./StudioThreads.ts";

type Schema = Record<string, unknown>;

const str = (description: string): Schema => ({ type: "string", description });
const obj = (description: string): Schema => ({ type: "object", description });
const arr = (description: string): Schema => ({ type: "array", description, items: { type: "object" } });

/** The input a Studio run takes: its directories (under the server's --root) and --force. */
const PIPELINE_INPUT: Schema = {
  type: "object",
  title: "Run input",
  properties: {
    inputDir: str("Directory of research notes (.md, .txt, .json), under the server's --root (relative: against the first root)."),
    outDir: str("Knowledge-base directory to write, new or empty or an existing knowledge base, under the server's --root."),
    force: { type: "boolean", description: "Re-process every file even when the ledger says it is unchanged." },
  },
  required: ["inputDir", "outDir"],
};

const PIPELINE_STATE: Schema = {
  type: "object",
  title: "Pipeline state",
  properties: {
    inputDir: str("Input directory (absolute; not editable from Studio)."),
    outDir: str("Knowledge-base directory (absolute; not editable from Studio)."),
    exclude: { type: "array", items: { type: "string" }, description: "Paths never read as input (not editable from Studio)." },
    maxFileBytes: { type: "number", description: "Files larger than this are skipped." },
    found: { type: "number", description: "Supported files found under the input directory." },
    files: arr("Files sent to the per-file subgraph (new or changed)."),
    unchanged: arr("Files the ledger says are unchanged (kept, not re-processed)."),
    settings: obj("Settings the output depends on (compared with the ledger)."),
    force: { type: "boolean", description: "Re-process every file." },
    prune: { type: "boolean", description: "Drop entries of files missing from the input." },
    skipped: arr("Files not processed, with the reason."),
    results: arr("One outcome per processed file."),
    kb: obj("Totals written when the knowledge base is synthesized."),
  },
};

const FILE_STATE: Schema = {
  type: "object",
  title: "One file's state",
  properties: {
    relPath: str("Path of the file relative to the input directory."),
    docId: str("ID of the parsed document in the run database."),
    outDir: str("Knowledge-base directory (not editable from Studio)."),
    patterns: arr("Patterns the extractor found, in file order."),
    extractProblems: { type: "array", items: { type: "string" }, description: "Why extraction produced nothing usable." },
    research: obj("Research pack (blob hash) per pattern key."),
    drafts: obj("Latest draft per pattern key (quarantined drafts included)."),
    verdicts: obj("Latest validator verdict per pattern key."),
    round: { type: "number", description: "Writer rounds done." },
    outcome: obj("What became of this file (entries written or quarantined)."),
  },
};

const CONFIG: Schema = { type: "object", properties: {} };

export function studioSchemas() {
  return {
    pipeline: {
      graph_id: GRAPH_ID,
      assistant_id: ASSISTANT_ID,
      input_schema: PIPELINE_INPUT,
      output_schema: PIPELINE_STATE,
      state_schema: PIPELINE_STATE,
      config_schema: CONFIG,
      context_schema: CONFIG,
    },
    file: { graph_id: GRAPH_ID, input_schema: FILE_STATE, output_schema: FILE_STATE, state_schema: FILE_STATE, config_schema: CONFIG },
  };
}
