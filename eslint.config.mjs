// Type-aware lint. Two jobs beyond style: the floating-promise rule (the single most valuable check for Temporal
// code), and the layer rules below, which make a file's folder say what it may import.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import prettierPlugin from 'eslint-plugin-prettier';
import prettierConfig from 'eslint-config-prettier/flat';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
/** Node modules that do I/O or touch the process: pure layers may not import them. */
const ioBuiltins = [
  'fs',
  'fs/promises',
  'child_process',
  'net',
  'http',
  'https',
  'http2',
  'os',
  'stream',
  'stream/promises',
  'readline',
  'dgram',
  'tls',
  'worker_threads',
  'cluster',
  'perf_hooks',
  'timers/promises',
].flatMap((m) => [m, `node:${m}`]);
/** Packages that are adapters to the outside world (object store, Temporal, ONNX, image codecs, rendering). */
const ioPackages = [
  'minio',
  'onnxruntime-node',
  'sharp',
  '@resvg/resvg-js',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  'vega',
  'vega-lite',
];

/**
 * The layers, top to bottom. Each may import only the layers it lists (and itself); anything else is a lint error.
 * Read it as the system diagram: workflows use contracts; activities compose domain logic and infrastructure
 * adapters; domain logic is pure; configs and lib are the floor. Nothing imports the CLI.
 */
/** The product layers the top-level programs (CLI, benchmarks, tests) may all use: everything except the CLI. */
const EVERYTHING_BUT_CLI = [
  'lib',
  'configs',
  'contracts',
  'domain',
  'infra',
  'activities',
  'services',
  'trainers',
  'devstack',
  'workers',
  'workflows',
];
const LAYERS = {
  lib: { may: [], pure: true, why: 'generic utilities with no project knowledge' },
  configs: { may: ['lib'], why: 'the run-config schema and loader' },
  contracts: { may: ['lib', 'configs'], noNode: true, why: 'types, ids and vocabularies shared by workflows and activities' },
  domain: { may: ['lib', 'configs', 'contracts'], pure: true, why: 'pure domain logic' },
  infra: { may: ['lib', 'configs', 'contracts', 'domain'], why: 'adapters to S3, Temporal, HTTP judges, ONNX' },
  activities: { may: ['lib', 'configs', 'contracts', 'domain', 'infra'], why: 'side effects as factories taking their clients' },
  services: { may: ['lib', 'configs', 'contracts', 'domain', 'infra'], why: 'long-running servers' },
  trainers: { may: ['lib', 'configs', 'contracts', 'domain', 'infra'], why: 'trainer processes' },
  devstack: { may: ['lib', 'configs', 'contracts', 'infra'], why: 'the embedded Temporal + MinIO stack' },
  workers: {
    may: ['lib', 'configs', 'contracts', 'domain', 'infra', 'activities', 'workflows', 'devstack'],
    why: 'worker processes',
  },
  workflows: {
    may: ['contracts', 'lib'],
    typesFrom: ['configs', 'activities'],
    noNode: true,
    why: 'deterministic workflow code',
  },
  tools: { may: ['lib', 'configs', 'contracts', 'domain', 'infra'], why: 'model-building tools' },
  bench: { may: [...EVERYTHING_BUT_CLI, 'tools', 'test'], why: 'benchmarks' },
  cli: { may: EVERYTHING_BUT_CLI, why: 'the realgen command' },
  test: { may: [...EVERYTHING_BUT_CLI, 'tools', 'bench'], why: 'tests (the CLI is tested as a process)' },
};
const ALL = Object.keys(LAYERS);

function layerConfig(name, spec) {
  const forbidden = ALL.filter((l) => l !== name && !spec.may.includes(l));
  const patterns = forbidden.map((l) => {
    const typeOnly = spec.typesFrom?.includes(l) ?? false;
    return {
      group: [`**/${l}`, `**/${l}/**`],
      ...(typeOnly ? { allowTypeImports: true } : {}),
      message: typeOnly
        ? `${name}/ (${spec.why}) may import ${l}/ only as types (import type …).`
        : `${name}/ (${spec.why}) may not import ${l}/; it may import ${spec.may.join(', ') || 'no other layer'}.`,
    };
  });
  const banned = spec.noNode ? nodeBuiltins : spec.pure ? ioBuiltins : [];
  const paths = [
    ...banned.map((n) => ({ name: n, message: `${name}/ (${spec.why}) may not use the Node built-in '${n}'.` })),
    ...(spec.noNode || spec.pure
      ? ioPackages.map((n) => ({ name: n, message: `${name}/ (${spec.why}) may not use the I/O package '${n}'.` }))
      : []),
  ];
  return { files: [`${name}/**/*.ts`, `${name}/**/*.mjs`], rules: { 'no-restricted-imports': ['error', { paths, patterns }] } };
}

export default tseslint.config(
  { ignores: ['node_modules/**', '.tools/**', '.realgen/**', 'dist/**', 'tools/python/**', 'models/**', 'trainers/torch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.mjs', '.js', '.json'] })],
      'import-x/extensions': ['.ts', '.mjs', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe/it return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', name: ['describe', 'it', 'test', 'suite'], package: 'node:test' }] },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // File-level import cycles are errors; the layer rules below rule out cycles between folders.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    // Plain-JS fixtures and benchmark trainers run directly under Node.
    files: ['**/*.mjs'],
    languageOptions: { globals: globals.node },
  },
  ...Object.entries(LAYERS).map(([name, spec]) => layerConfig(name, spec)),
  // Formatting is Prettier's (.prettierrc.json, 130 columns); lint reports a file that is not formatted.
  prettierConfig,
  { files: ['**/*.ts', '**/*.mjs'], plugins: { prettier: prettierPlugin }, rules: { 'prettier/prettier': 'error' } },
);
