import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, digestOf } from '../../lib/canonical-json';

describe('canonical JSON', () => {
  it('sorts keys at every level and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });
  it('gives the same digest for the same content in any key order', () => {
    assert.equal(digestOf({ a: 1, b: [1, 2] }), digestOf({ b: [1, 2], a: 1 }));
    assert.notEqual(digestOf({ a: 1 }), digestOf({ a: 2 }));
    assert.match(digestOf({}), /^[0-9a-f]{64}$/);
  });
});
