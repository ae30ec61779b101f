import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertKeySegment, assertObjectKey, joinKey, objectKeyProblem } from '../../contracts/object-key';

describe('object keys', () => {
  it('accepts plain relative keys and prefixes', () => {
    for (const key of ['runs/a/stage-1/checkpoints/000000010/lora/adapter.safetensors', 'runs/a/', 'x', 'a b/ü.bin']) {
      assert.equal(objectKeyProblem(key), null, key);
    }
  });

  it('names the problem with each unsafe key', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /non-empty/],
      ['/etc/passwd', /absolute/],
      ['runs/../secrets', /"\.\." segment/],
      ['runs/./x', /"\." segment/],
      ['runs//x', /empty segment/],
      ['runs/a\nb', /control character/],
      ['runs/a\u0000b', /control character/],
      ['runs\\a', /backslash/],
      ['a/'.repeat(600), /bytes; expected at most 1024/],
      [`a/${'b'.repeat(300)}`, /segment over 255 bytes/],
    ];
    for (const [key, pattern] of cases) {
      const problem = objectKeyProblem(key);
      assert.ok(problem !== null && pattern.test(problem), `${JSON.stringify(key).slice(0, 40)} → ${problem}`);
    }
  });

  it('throws a non-retryable InvalidObjectKey failure naming the key', () => {
    assert.throws(
      () => assertObjectKey('runs/../x', 'checkpoint file path'),
      (err: Error & { type?: string; nonRetryable?: boolean }) =>
        err.type === 'InvalidObjectKey' &&
        err.nonRetryable === true &&
        /checkpoint file path "runs\/\.\.\/x" has a "\.\." segment/.test(err.message),
    );
    assert.throws(() => assertKeySegment('a/b', 'run id'), /run id "a\/b" contains "\/"/);
    assert.equal(joinKey('runs', 'r1', 'x'), 'runs/r1/x');
  });
});
