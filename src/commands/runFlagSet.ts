import { wrapWords } from "../util/wrapWords.ts";
import type { GraphOptions } from "./graph/GraphOptions.ts";
import type { FlagConfig, FlagValues } from "./parseFlags.ts";
import { defaultText, RUN_FLAGS, type RunFlag, type RunFlagKey } from "./runFlags.ts";

/** Where the help's text column starts, and how wide the help is. */
const COLUMN = 23;
const WIDTH = 100;

/** Some of RUN_FLAGS, as one command takes them. */
export interface RunFlagSet<K extends RunFlagKey> {
  /** parseArgs' declaration of these flags (parseFlags). */
  readonly config: FlagConfig;
  /** `--name` of each flag that takes a value (the next argument, unless written `--name=value`). */
  readonly valueFlags: ReadonlySet<string>;
  /** Their help lines: the flag and its value, then its help wrapped in a column. */
  readonly help: string;
  /** The options these flags set: each given flag read, each absent one's fallback; throws the first usage error. */
  read(values: FlagValues): Pick<GraphOptions, K>;
}

function helpEntry(flag: RunFlag<unknown>): string {
  const label = `  --${flag.name}${flag.arg ? ` ${flag.arg}` : ""}`;
  const fallback = defaultText(flag);
  const [first = "", ...rest] = wrapWords(`${flag.help}${fallback === undefined ? "" : ` (default ${fallback})`}`, WIDTH - COLUMN);
  const indent = " ".repeat(COLUMN);
  const head = label.length < COLUMN ? [label.padEnd(COLUMN) + first] : [label, indent + first];
  return [...head, ...rest.map((l) => indent + l)].join("\n");
}

/** The flags of `keys` (in RUN_FLAGS' order): what a command needs to parse them and to show their help. */
export function runFlagSet<K extends RunFlagKey>(keys: readonly K[]): RunFlagSet<K> {
  const flags = (Object.keys(RUN_FLAGS) as RunFlagKey[])
    .filter((k): k is K => keys.includes(k as K))
    .map((key) => [key, RUN_FLAGS[key] as RunFlag<unknown>] as const);
  return {
    config: Object.fromEntries(flags.map(([, f]) => [f.name, f.arg ? { type: "string", ...(f.repeat ? { multiple: true } : {}) } : { type: "boolean" }])),
    valueFlags: new Set(flags.filter(([, f]) => f.arg).map(([, f]) => `--${f.name}`)),
    help: flags.map(([, f]) => helpEntry(f)).join("\n"),
    read(values) {
      const options: Record<string, unknown> = {};
      for (const [key, flag] of flags) {
        const raw = values[flag.name];
        const value = raw === undefined ? flag.fallback : flag.read(raw, flag.name);
        if (value !== undefined || "fallback" in flag) options[key] = value;
      }
      return options as Pick<GraphOptions, K>;
    },
  };
}
