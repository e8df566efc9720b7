/**
 * Fault injection for the durability tests (RUST_KB_TEST_FAULTS, read in src/config/env.ts).
 * Never set in normal use. Format: `;`-separated items
 *   model:after=N          the (N+1)th and later model calls throw mid-generation
 *   write:CODE:after=N     the (N+1)th and later knowledge-base page writes fail with errno CODE (ENOSPC, EROFS)
 *   node:NAME:path=TEXT    the per-file node NAME throws an unexpected error (a TypeError, as a bug would)
 *                          for every file whose path contains TEXT
 */
import type { Role } from "../llm/roles.ts";
import type { BackendForRole, ModelBackend } from "../llm/types.ts";
import { REAL_WRITE_FS, type WriteFs } from "../util/atomicWrite.ts";

export interface Faults {
  model?: { after: number };
  write?: { code: string; after: number };
  node?: NodeFault;
}

export interface NodeFault {
  node: string;
  path: string;
}

export function parseFaults(spec: string | undefined): Faults {
  const faults: Faults = {};
  for (const item of (spec ?? "")
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^model:after=(\d+)$/.exec(item);
    if (m) {
      faults.model = { after: Number(m[1]) };
      continue;
    }
    const w = /^write:([A-Z]+):after=(\d+)$/.exec(item);
    if (w) {
      faults.write = { code: w[1] ?? "EIO", after: Number(w[2]) };
      continue;
    }
    const n = /^node:([a-zA-Z]+):path=(.+)$/.exec(item);
    if (n) {
      faults.node = { node: n[1] ?? "", path: n[2] ?? "" };
      continue;
    }
    throw new Error(`RUST_KB_TEST_FAULTS: cannot read "${item}"`);
  }
  return faults;
}

/** Wraps every role's backend so calls after the first `after` throw, as a crashing model would. */
export function withModelFault(backendFor: BackendForRole, fault: { after: number }): BackendForRole {
  let calls = 0;
  const wrapped = new Map<ModelBackend, ModelBackend>();
  return (role: Role) => {
    const inner = backendFor(role);
    let w = wrapped.get(inner);
    if (!w) {
      w = {
        modelId: inner.modelId,
        contextTokens: inner.contextTokens,
        countTokens: (t) => inner.countTokens(t),
        generate: async (req) => {
          if (++calls > fault.after) throw new Error("llama.cpp failed during generation (injected by RUST_KB_TEST_FAULTS)");
          return inner.generate(req);
        },
      };
      wrapped.set(inner, w);
    }
    return w;
  };
}

/** The file system the knowledge base writes pages through (NodeDeps.writeFs): writes after the first `after` fail with errno `code`. */
export function faultyWriteFs(fault: { code: string; after: number }): WriteFs {
  let writes = 0;
  return {
    ...REAL_WRITE_FS,
    openSync: (file, flags, mode) => {
      if (++writes > fault.after) {
        const e = new Error(`${fault.code}: injected write failure, write '${file}'`) as NodeJS.ErrnoException;
        e.code = fault.code;
        throw e;
      }
      return REAL_WRITE_FS.openSync(file, flags, mode);
    },
  };
}

/** Throws when the run's node fault (NodeDeps.nodeFault) is armed for `node` and this file (called by nodes/instrument.ts). */
export function injectNodeFault(fault: NodeFault | undefined, node: string, relPath: string): void {
  if (fault && fault.node === node && relPath.includes(fault.path)) throw new TypeError(`injected fault in ${node} for ${relPath} (RUST_KB_TEST_FAULTS)`);
}
