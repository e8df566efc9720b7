/**
 * Markdown to HTML for the site: the one module that uses markdown-it. Raw HTML in the markdown is
 * not passed through (model text stays text), code fences go through the highlighter, and every
 * link target goes through `rewriteHref` (the site turns links between KB pages into links between
 * its HTML pages).
 */
import MarkdownIt from "markdown-it";
import { highlightCode } from "./highlightCode.ts";

export type HrefRewriter = (href: string) => string;

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, highlight: (code, lang) => highlightCode(code.replace(/\n$/, ""), lang) });

export function markdownToHtml(markdown: string, rewriteHref: HrefRewriter): string {
  const tokens = md.parse(markdown, {});
  const visit = (list: ReturnType<typeof md.parse>) => {
    for (const t of list) {
      if (t.type === "link_open") {
        const href = t.attrGet("href");
        if (href !== null) t.attrSet("href", rewriteHref(String(href)));
      }
      if (t.children) visit(t.children);
    }
  };
  visit(tokens);
  return md.renderer.render(tokens, md.options, {});
}
