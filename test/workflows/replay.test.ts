/**
 * Replays every committed history in test/histories/ against the current workflow code: a change that breaks
 * determinism for runs in flight fails here. Record a fixture with REALGEN_RECORD_HISTORIES=1 (see README).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import * as workflows from '../../workflows';
import { workflowBundle } from '../../workers/create-workers';
import { installRuntime } from '../../workers/worker-context';
import { HISTORIES_DIR } from '../helpers/temporal';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();

describe('replay of committed histories', () => {
  it('has a history for every workflow type', () => {
    const types = Object.keys(workflows).sort();
    const covered = new Set(files.map((f) => f.replace(/(-\d+)?\.json$/, '')));
    assert.deepEqual(types.filter((t) => !covered.has(t)), []);
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
