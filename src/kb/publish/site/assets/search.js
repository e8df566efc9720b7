// Client-side search over the knowledge base: the entries of kb.json, loaded by search-index.js
// as window.KB_SEARCH so it works from file:// as well as from a web server. No dependencies.
// Every word of the query must match the start of a word of the entry; names and aliases weigh
// most, then tags, cross-references and category, then the text. ?q=WORDS (or #q=WORDS) searches on load.
(() => {
  const entries = window.KB_SEARCH || [];
  const input = document.getElementById("q");
  const results = document.getElementById("results");
  if (!input || !results) return;
  const WEIGHTS = { name: 10, aliases: 8, tags: 4, refs: 4, category: 3, summary: 2, text: 1 };

  const words = (s) =>
    String(s || "")
      .toLowerCase()
      .match(/[\p{L}\p{N}_]+/gu) || [];
  const index = entries.map((entry) => {
    const fields = {};
    for (const k of Object.keys(WEIGHTS)) fields[k] = words(Array.isArray(entry[k]) ? entry[k].join(" ") : entry[k]);
    return { entry, fields };
  });

  const score = (item, terms) => {
    let total = 0;
    for (const term of terms) {
      let best = 0;
      for (const [k, weight] of Object.entries(WEIGHTS))
        for (const w of item.fields[k]) if (w.startsWith(term)) best = Math.max(best, weight * (w === term ? 2 : 1));
      if (best === 0) return 0;
      total += best;
    }
    return total;
  };

  const el = (tag, attrs, text) => {
    const n = document.createElement(tag);
    for (const [a, v] of Object.entries(attrs)) n.setAttribute(a, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };

  const search = (query) => {
    const terms = words(query);
    results.textContent = "";
    if (terms.length === 0) return;
    const hits = index
      .map((item) => ({ item, s: score(item, terms) }))
      .filter((h) => h.s > 0)
      .sort((a, b) => b.s - a.s || (a.item.entry.name < b.item.entry.name ? -1 : 1));
    const count =
      hits.length === 0
        ? `No entry matches \u201c${query}\u201d.`
        : `${hits.length} ${hits.length === 1 ? "entry matches" : "entries match"} \u201c${query}\u201d:`;
    results.appendChild(el("p", { id: "result-count" }, count));
    if (hits.length === 0) return;
    const list = el("ol", {});
    for (const h of hits.slice(0, 50)) {
      const e = h.item.entry;
      const li = el("li", { class: "hit" });
      li.appendChild(el("a", { href: `patterns/${encodeURIComponent(e.slug)}.html` }, e.name));
      li.appendChild(document.createTextNode(` \u2014 ${e.categoryTitle}. ${e.summary}`));
      list.appendChild(li);
    }
    results.appendChild(list);
  };

  const initialQuery = () => {
    let q = new URLSearchParams(location.search).get("q");
    if (q === null && location.hash.startsWith("#q=")) q = decodeURIComponent(location.hash.slice(3).replace(/\+/g, " "));
    return q || "";
  };

  input.addEventListener("input", () => search(input.value));
  const q = initialQuery();
  if (q) {
    input.value = q;
    search(q);
  }
})();
