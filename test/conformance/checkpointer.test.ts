/**
 * LangGraph's checkpointer conformance suite against the checkpointer exactly as the pipeline uses
 * it: SqliteSaver on the run database's own connection (a file DB in WAL mode, synchronous=NORMAL,
 * shared with the pipeline's tables), with the compressing serializer.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { validate } from "@langchain/langgraph-checkpoint-validation";
import { RunDatabase } from "../../src/store/RunDatabase.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kb-conformance-"));
const open = new Map<SqliteSaver, RunDatabase>();
let n = 0;

validate({
  // This exact name makes the suite skip the one test it skips for SqliteSaver itself (channel deltas).
  checkpointerName: "@langchain/langgraph-checkpoint-sqlite",
  createCheckpointer() {
    const db = RunDatabase.open(path.join(dir, `conformance-${n++}.sqlite`));
    const saver = db.checkpointer();
    open.set(saver, db);
    return saver;
  },
  destroyCheckpointer(saver) {
    open.get(saver)?.close();
    open.delete(saver);
  },
  afterAll() {
    fs.rmSync(dir, { recursive: true, force: true });
  },
});
