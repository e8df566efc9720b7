import path from "node:path";

/**
 * The href a page uses for a source file (and a line span in it), or undefined when the page
 * cannot reach the input and names it by path and lines only.
 */
export type SourceLinker = (relPath: string, startLine?: number, endLine?: number) => string | undefined;

/** No links: pages name sources by path and lines (the input directory is not known). */
export const NO_SOURCE_LINKS: SourceLinker = () => undefined;

/** Percent-encodes a path segment, parentheses included (they would end a markdown link). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Links from pages in `pageDir` to the input files under `inputDir`: relative, so the knowledge
 * base and the notes can move together, with a GitHub-style line anchor (`#L12-L23`, which GitHub,
 * GitLab and VS Code's preview open at those lines). Input on another drive (Windows) cannot be
 * reached by a relative link: those sources keep path and lines.
 */
export function sourceLinker(pageDir: string, inputDir: string | undefined): SourceLinker {
  if (!inputDir) return NO_SOURCE_LINKS;
  return (relPath, startLine, endLine) => {
    const rel = path.relative(pageDir, path.join(inputDir, ...relPath.split("/")));
    if (rel === "" || path.isAbsolute(rel)) return undefined;
    const href = rel.split(path.sep).map(encodeSegment).join("/");
    if (startLine === undefined) return href;
    return `${href}#L${startLine}${endLine !== undefined && endLine !== startLine ? `-L${endLine}` : ""}`;
  };
}
