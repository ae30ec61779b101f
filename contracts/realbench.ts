/** The RealBench vocabulary shared by workflows, activities and reports: categories and evaluation suites. */

/** The seven RealBench categories, in the order of the upstream prompt file. */
export const REALBENCH_CATEGORIES = [
  'animals',
  'buildings',
  'dishes',
  'indoor_view',
  'outdoor_view',
  'people',
  'plants',
] as const;
export type RealBenchCategory = (typeof REALBENCH_CATEGORIES)[number];

/** Evaluation suites: every item, the held-out tenth, or a 14-item smoke sample. */
export const REALBENCH_SUITES = ['full', 'heldout', 'smoke'] as const;
export type RealBenchSuite = (typeof REALBENCH_SUITES)[number];
