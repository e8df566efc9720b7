/**
 * Tags: a fixed vocabulary, assigned by keyword rules over an entry's names and summary plus its
 * category and cross-references. Deterministic (no model), so re-runs give the same tags.
 */
import type { CrossRefs } from "./crossrefs.ts";
import type { CategoryId } from "./taxonomy.ts";

const RULES: readonly [tag: string, pattern: RegExp][] = [
  ["ownership-borrowing", /\b(borrow\w*|ownership|owned|moves?|clone[sd]?|cloning|&mut)\b/],
  ["lifetimes", /\blifetimes?\b|'static|'a\b/],
  ["error-handling", /\b(errors?|result|panics?|unwrap\w*|expect)\b|\?\s*operator|question mark/],
  ["traits-generics", /\b(traits?|generics?|impl\s+\w+\s+for|type class\w*|trait objects?|dyn)\b/],
  ["iterators", /\b(iterators?|iter(_mut)?|into_iter|collect|fold|filter_map|flat_?map)\b/],
  ["closures", /\b(closures?|fn ?(once|mut)|lambda\w*)\b/],
  ["concurrency", /\b(threads?|mutex\w*|arc|send|sync|atomic\w*|locks?|data races?)\b/],
  ["async", /\b(async|await|futures?|tokio)\b/],
  ["unsafe", /\b(unsafe|raw pointers?|transmute|undefined behaviou?r)\b/],
  ["ffi", /\b(ffi|extern\s+"c"|c strings?|cstr(ing)?|foreign function)\b/],
  ["strings", /\b(strings?|&str|str|format!|concatenat\w*)\b/],
  ["smart-pointers", /\b(smart pointers?|box|rc|deref(mut)?|refcell)\b/],
  ["resource-management", /\b(raii|drop|destructors?|guards?|cleanup|finali[sz]\w*)\b/],
  ["type-safety", /\b(newtypes?|type safety|type-safe|typestate|static distinctions?)\b/],
  ["api-design", /\b(api|public interface|constructors?|builders?|getters?|naming|conventions?)\b/],
  ["macros", /\b(macros?|macro_rules!?|proc[- ]macros?)\b/],
  ["testing", /\b(tests?|testing|doctests?)\b/],
  ["documentation", /\b(docs?|documentation|rustdoc|doc comments?)\b/],
  ["performance", /\b(performance|allocations?|zero[- ]cost|faster|efficien\w*)\b/],
  ["functional", /\b(functional|immutab\w*|optics|lens(es)?|monads?)\b/],
];

const CATEGORY_TAG: Partial<Record<CategoryId, string>> = {
  "ownership-borrowing": "ownership-borrowing",
  "error-handling": "error-handling",
  "traits-generics": "traits-generics",
  "iterators-closures": "iterators",
  concurrency: "concurrency",
  async: "async",
  "unsafe-ffi": "unsafe",
  "api-design": "api-design",
  "type-safety": "type-safety",
  "resource-management": "resource-management",
  functional: "functional",
  testing: "testing",
  performance: "performance",
  macros: "macros",
  "documentation-tooling": "documentation",
  "anti-patterns": "anti-pattern",
  "design-patterns": "design-pattern",
};

const MAX_TAGS = 6;

/**
 * Tags for an entry: its category's tag first, then vocabulary tags whose keywords occur in the
 * names or summary (in vocabulary order), then `clippy-lint` / `api-guideline` when it has such
 * cross-references; at most MAX_TAGS, sorted.
 */
export function tagsFor(input: { names: readonly string[]; summary: string; category: CategoryId; crossRefs: CrossRefs }): string[] {
  const text = [...input.names, input.summary].join("\n").toLowerCase();
  const tags: string[] = [];
  const add = (t: string | undefined) => {
    if (t && !tags.includes(t)) tags.push(t);
  };
  add(CATEGORY_TAG[input.category]);
  if (input.crossRefs.clippy.length > 0) add("clippy-lint");
  if (input.crossRefs.guidelines.length > 0) add("api-guideline");
  for (const [tag, re] of RULES) if (re.test(text)) add(tag);
  return tags.slice(0, MAX_TAGS).sort();
}
