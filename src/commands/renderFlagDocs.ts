import { defaultText, RUN_FLAGS, type RunFlag, runFlagKeys } from "./runFlags.ts";

const BEGIN = "<!-- run-flags:begin: made from src/commands/runFlags.ts by `npm run docs:flags`; edit the flags there -->";
const END = "<!-- run-flags:end -->";

/** Help text as markdown: flags in code spans. */
const markdown = (text: string) => text.replace(/--[a-z][a-z-]*/g, (flag) => `\`${flag}\``);
/** A table cell's text: a bare `|` would end the cell. */
const cell = (text: string) => text.replaceAll(/(?<!\\)\|/g, "\\|");

function row(flag: RunFlag<unknown>): string {
  const text = defaultText(flag);
  // A path the parser fills in is shown as code, as the rest of the README shows paths.
  const code = flag.shownDefault === undefined && typeof flag.fallback === "string";
  const shown = flag.docs?.default ?? (text === undefined ? "" : code ? `\`${text}\`` : markdown(text));
  const cells = [`\`--${flag.name}${flag.arg ? ` ${flag.arg}` : ""}\``, shown, flag.docs?.meaning ?? markdown(flag.help)];
  return `|${cells.map((c) => (c === "" ? " " : ` ${cell(c)} `)).join("|")}|`;
}

/**
 * `document` (the README) with the options table of `npm run graph` made anew from RUN_FLAGS between
 * its markers; scripts/writeFlagDocs.ts writes it, and a unit test fails while the committed README differs.
 */
export function renderFlagDocs(document: string): string {
  const begin = document.indexOf(BEGIN);
  const end = document.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`the document has no ${BEGIN} ... ${END} block for the flags table`);
  const table = ["| option | default | meaning |", "|---|---|---|", ...runFlagKeys().map((k) => row(RUN_FLAGS[k] as RunFlag<unknown>))];
  return `${document.slice(0, begin)}${BEGIN}\n${table.join("\n")}\n${document.slice(end)}`;
}
