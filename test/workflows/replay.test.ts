/**
 * Replays every kept history in test/histories/ (`<type>-v<n>.json`, one file per recorded version) against the
 * current workflow code: a change that breaks determinism for runs started by older code fails here. Record a new
 * version with REALGEN_RECORD_HISTORIES=1 (see README); older versions stay.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { workflowBundle } from '../../workers/create-workers';
import { installRuntime } from '../../workers/worker-context';
import { HISTORIES_DIR, HISTORY_FILE, nextHistoryFile } from '../helpers/temporal';

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('replay of committed histories', () => {
  it('keeps every history as <workflow type>-v<n>.json, at least one per workflow type', () => {
    assert.deepEqual(
      files.filter((f) => !HISTORY_FILE.test(f)),
      [],
      'history files named <type>-v<n>.json',
    );
    const types = Object.keys(workflows).sort();
    const covered = new Set(files.map((f) => HISTORY_FILE.exec(f)?.[1]));
    assert.deepEqual(
      types.filter((t) => !covered.has(t)),
      [],
    );
  });

  it('records a new version next to the kept ones, never over one', () => {
    assert.equal(
      nextHistoryFile('trainStage', ['trainStage-v1.json', 'trainStage-v2.json', 'realgenPipeline-v7.json']),
      'trainStage-v3.json',
    );
    assert.equal(nextHistoryFile('smokeCheckpoint', ['trainStage-v1.json']), 'smokeCheckpoint-v1.json');
  });

  for (const file of files) {
    it(`replays ${file} deterministically`, async () => {
      installRuntime();
      // The worker accepts the JSON form written by `temporal workflow show --output json`.
      const history: unknown = JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, `replay-${file}`);
    });
  }
});
