/**
 * `text`'s words in lines of at most `width` characters (a longer word gets a line of its own), for
 * help texts; `text` as a list: its items are the words (kept whole, spaces and all).
 */
export function wrapWords(text: string | readonly string[], width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of typeof text === "string" ? text.split(/\s+/).filter((w) => w !== "") : text) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...lines, line];
}
