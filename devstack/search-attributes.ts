/** Registering the project's search attributes (contracts/search-attributes.ts) on the dev server. */
import { spawnSync } from 'node:child_process';
import type { SearchAttributeType } from '@temporalio/common';
import { CHECKPOINT_STEP, RUN_ID, STAGE } from '../contracts/search-attributes';
import { TEMPORAL_BIN } from './stack-binaries';

/** The `temporal` CLI's spelling of each attribute type. */
const CLI_TYPE: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

const KEYS: ReadonlyArray<{ name: string; type: SearchAttributeType }> = [RUN_ID, STAGE, CHECKPOINT_STEP];

/** `name` → CLI type of every search attribute a workflow of the project may set. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, string>> = Object.fromEntries(
  KEYS.map((k) => [k.name, CLI_TYPE[k.type]]),
);

/** `--search-attribute name=Type` arguments of `temporal server start-dev`. */
export function startDevSearchAttributeArgs(): string[] {
  return Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]);
}

/**
 * Registers the project's search attributes that the namespace lacks. `start-dev --search-attribute` does not
 * add them to an existing database file, so an upgraded checkout would otherwise fail to start runs.
 */
export function ensureSearchAttributes(address: string, namespace = 'default'): void {
  const list = spawnSync(
    TEMPORAL_BIN,
    ['operator', 'search-attribute', 'list', '--address', address, '--namespace', namespace, '--output', 'json'],
    {
      encoding: 'utf8',
      timeout: 15000,
    },
  );
  if (list.status !== 0) throw new Error(`cannot list search attributes: ${list.stderr.trim()}`);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    if (list.stdout.includes(`"${name}"`)) continue;
    const r = spawnSync(
      TEMPORAL_BIN,
      ['operator', 'search-attribute', 'create', '--name', name, '--type', type, '--address', address, '--namespace', namespace],
      {
        encoding: 'utf8',
        timeout: 15000,
      },
    );
    if (r.status !== 0 && !/already exists/i.test(r.stderr))
      throw new Error(`cannot register search attribute ${name}: ${r.stderr.trim()}`);
  }
}
