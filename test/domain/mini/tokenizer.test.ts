import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadTokenizer } from '../../../infra/mini/tokenizer-file';

const dir = path.resolve(__dirname, '..', '..', '..', 'models', 'realgen-mini');

describe('realgen-mini tokenizer', () => {
  const tok = loadTokenizer(path.join(dir, 'tokenizer.json'));
  const fixtures = JSON.parse(readFileSync(path.join(dir, 'tokenizer-fixtures.json'), 'utf8')) as {
    fixtures: Array<{ text: string; category: string | null; ids: number[] }>;
  };

  it('matches the Python reference on every fixture', () => {
    assert.ok(fixtures.fixtures.length >= 5);
    for (const f of fixtures.fixtures) assert.deepEqual(tok.encode(f.text, f.category), f.ids, f.text);
  });

  it('pads, truncates and refuses unknown categories', () => {
    assert.equal(tok.encode('').length, tok.maxLen);
    assert.ok(tok.encode('').every((id) => id === 0));
    assert.equal(tok.encode('word '.repeat(500)).length, tok.maxLen);
    assert.throws(() => tok.encode('x', 'cars'), /unknown category "cars"/);
  });

  it('encodes batches as int64 [n, maxLen]', () => {
    const batch = tok.encodeBatch([{ text: 'a dog', category: 'animals' }, { text: 'slight grain' }]);
    assert.equal(batch.length, 2 * tok.maxLen);
    assert.equal(Number(batch[0]), tok.encode('a dog', 'animals')[0]);
  });
});
