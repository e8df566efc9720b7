/** The five agent roles, in pipeline order. */
export const ROLES = ["extractor", "researcher", "writer", "validator", "synthesizer"] as const;
export type Role = (typeof ROLES)[number];

/** The users' plan: 10 extractors, 8 researchers, 6 writers, 4 validators, 2 synthesizers. */
export const DEFAULT_AGENT_COUNTS: Readonly<Record<Role, number>> = {
  extractor: 10,
  researcher: 8,
  writer: 6,
  validator: 4,
  synthesizer: 2,
};

export function emptyRoleCounts(): Record<Role, number> {
  return { extractor: 0, researcher: 0, writer: 0, validator: 0, synthesizer: 0 };
}
