/** Which endpoints a process uses: environment, then the endpoints file of `realgen dev up`, then the config. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../configs/load';
import { resolveEndpoints } from '../../configs/resolve-endpoints';

const preset = loadConfig(path.resolve(__dirname, '..', '..', 'configs', 'mini.yaml')).config;

function stateWith(endpoints: object | string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-endpoints-'));
  writeFileSync(path.join(dir, 'endpoints.json'), typeof endpoints === 'string' ? endpoints : JSON.stringify(endpoints));
  return dir;
}

const recorded = {
  schema: 'realgen/dev-endpoints@1',
  temporalAddress: '127.0.0.1:41000',
  temporalUiUrl: 'http://127.0.0.1:41001',
  s3Endpoint: 'http://127.0.0.1:41002',
  s3ConsoleUrl: 'http://127.0.0.1:41003',
  accessKeyFile: '/state/secrets/ak',
  secretKeyFile: '/state/secrets/sk',
};

describe('resolveEndpoints', () => {
  it('redirects a config on the default ports to the recorded stack, credentials included', () => {
    const r = resolveEndpoints(preset, { REALGEN_STATE_DIR: stateWith(recorded) }, 'mini.yaml');
    assert.equal(r.config.temporal.address, '127.0.0.1:41000');
    assert.equal(r.config.storage.endpoint, 'http://127.0.0.1:41002');
    assert.deepEqual(r.config.storage.credentials, {
      accessKeyId: { file: '/state/secrets/ak' },
      secretAccessKey: { file: '/state/secrets/sk' },
    });
    assert.match(r.sources.temporal, /endpoints\.json/);
    assert.deepEqual(resolveEndpoints(r.config, { REALGEN_STATE_DIR: stateWith(recorded) }).config, r.config, 'idempotent');
  });

  it('lets the environment win, and leaves a config that names other endpoints alone', () => {
    const env = {
      REALGEN_STATE_DIR: stateWith(recorded),
      REALGEN_TEMPORAL_ADDRESS: '10.0.0.1:7233',
      REALGEN_S3_SECRET_KEY_FILE: '/env/sk',
    };
    const r = resolveEndpoints(preset, env);
    assert.equal(r.config.temporal.address, '10.0.0.1:7233');
    assert.equal(r.sources.temporal, 'REALGEN_TEMPORAL_ADDRESS');
    assert.equal(r.config.storage.endpoint, 'http://127.0.0.1:41002');
    assert.deepEqual(r.config.storage.credentials.secretAccessKey, { file: '/env/sk' });

    const remote = {
      ...preset,
      temporal: { ...preset.temporal, address: 'temporal.example:7233' },
      storage: { ...preset.storage, endpoint: 'https://s3.example' },
    };
    const kept = resolveEndpoints(remote, { REALGEN_STATE_DIR: stateWith('not json') }, 'remote.yaml');
    assert.equal(kept.config.temporal.address, 'temporal.example:7233');
    assert.equal(kept.config.storage.endpoint, 'https://s3.example');
    assert.deepEqual(kept.sources, { temporal: 'remote.yaml', s3: 'remote.yaml' });
  });

  it('names the file when an endpoints file it needs is broken, and uses the config when there is none', () => {
    assert.throws(
      () => resolveEndpoints(preset, { REALGEN_STATE_DIR: stateWith('{}') }),
      /endpoints\.json: temporalAddress: expected a non-empty string/,
    );
    const none = resolveEndpoints(preset, { REALGEN_STATE_DIR: mkdtempSync(path.join(os.tmpdir(), 'realgen-endpoints-')) });
    assert.equal(none.config.temporal.address, '127.0.0.1:7233');
  });
});
