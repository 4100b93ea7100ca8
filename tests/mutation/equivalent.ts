/**
 * Surviving mutants that are equivalent: no test can kill them, because the program behaves the
 * same with and without them. Keyed by `file:line:column mutator` as tests/mutation/summary.ts
 * prints them; each with the reason.
 */
export const EQUIVALENT_MUTANTS: Record<string, string> = {};
