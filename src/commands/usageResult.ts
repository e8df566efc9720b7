import { isUserError } from "../errors.ts";

/**
 * Runs a command's argument parser: a USAGE UserError it throws (a bad flag or value) becomes the
 * result `{ kind: "error", message }` that the CLI prints above the help with exit code 2. Anything
 * else it throws is a bug and propagates.
 */
export function usageResult<T>(parse: () => T): T | { kind: "error"; message: string } {
  try {
    return parse();
  } catch (e) {
    if (isUserError(e) && e.code === "USAGE") return { kind: "error", message: e.message };
    throw e;
  }
}
