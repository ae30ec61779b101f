/**
 * Both README entry points (`npm test`, `npm run demo`) run the same idempotent install step before anything that
 * needs node_modules, so either works as the first command in a fresh clone.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

const repo = path.resolve(__dirname, '..', '..');
const scripts = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

describe('entry points', () => {
  it('npm run demo installs what is missing before starting bin/realgen', () => {
    assert.match(scripts.demo ?? '', /^bash scripts\/ensure-installed\.sh && bin\/realgen demo$/);
  });

  it('npm test runs the same install step first', () => {
    assert.equal(scripts.test, 'bash scripts/test.sh');
    const testSh = readFileSync(path.join(repo, 'scripts', 'test.sh'), 'utf8');
    const install = testSh.indexOf('bash scripts/ensure-installed.sh');
    assert.ok(install > 0, 'scripts/test.sh runs scripts/ensure-installed.sh');
    assert.ok(install < testSh.indexOf('bin/realgen'), 'before the first use of bin/realgen');
  });

  it('the install step checks node_modules against package-lock.json and installs the stack tools', () => {
    const sh = readFileSync(path.join(repo, 'scripts', 'ensure-installed.sh'), 'utf8');
    assert.match(sh, /package-lock\.json -nt node_modules\/\.package-lock\.json/);
    assert.match(sh, /npm ci/);
    assert.match(sh, /scripts\/install-tools\.sh/);
  });
});
