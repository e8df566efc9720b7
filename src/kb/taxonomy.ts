/** The fixed category taxonomy every knowledge-base entry is filed under. */
export const CATEGORIES = [
  { id: "ownership-borrowing", title: "Ownership and borrowing" },
  { id: "error-handling", title: "Error handling" },
  { id: "traits-generics", title: "Traits and generics" },
  { id: "iterators-closures", title: "Iterators and closures" },
  { id: "concurrency", title: "Concurrency" },
  { id: "async", title: "Async" },
  { id: "unsafe-ffi", title: "Unsafe and FFI" },
  { id: "api-design", title: "API design" },
  { id: "type-safety", title: "Type safety" },
  { id: "resource-management", title: "Resource management" },
  { id: "design-patterns", title: "Design patterns" },
  { id: "functional", title: "Functional programming" },
  { id: "testing", title: "Testing" },
  { id: "performance", title: "Performance" },
  { id: "macros", title: "Macros" },
  { id: "documentation-tooling", title: "Documentation and tooling" },
  { id: "anti-patterns", title: "Anti-patterns" },
  { id: "other", title: "Other" },
] as const;

export type CategoryId = (typeof CATEGORIES)[number]["id"];

export const CATEGORY_IDS = CATEGORIES.map((c) => c.id) as unknown as readonly [CategoryId, ...CategoryId[]];

export function categoryTitle(id: string): string {
  return CATEGORIES.find((c) => c.id === id)?.title ?? id;
}
