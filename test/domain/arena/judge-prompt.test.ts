import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ANSWER_LINE_PREFIX, JUDGE_QUESTION, judgeQuestion } from '../../../domain/arena/judge-prompt';
import { parseJudgeAnswer } from '../../../domain/arena/verdict';

describe('judge question', () => {
  it('asks for the criteria of the paper and names both images by position only', () => {
    for (const needle of [
      /hands and faces/i,
      /repe(at|tition)/i,
      /lighting/i,
      /oily/i,
      /greasy/i,
      /edges/i,
      /colour/i,
      /Image 1/,
      /Image 2/,
    ]) {
      assert.match(JUDGE_QUESTION, needle);
    }
    assert.doesNotMatch(JUDGE_QUESTION, /generated image is|the real (photo|image) is/i, 'must not reveal which image is which');
  });

  it('asks for exactly the answer lines the parser accepts', () => {
    const asked = JUDGE_QUESTION.split('\n').filter((l) => l.startsWith(ANSWER_LINE_PREFIX));
    assert.deepEqual(asked, ['More Realistic Image: Image 1', 'More Realistic Image: Image 2']);
    for (const [i, line] of asked.entries())
      assert.equal(parseJudgeAnswer(`${line}\nSharp, consistent lighting.`)?.choice, i + 1);
  });

  it('appends the caption only when one is given, on one line', () => {
    assert.equal(judgeQuestion(), JUDGE_QUESTION);
    assert.equal(judgeQuestion('  '), JUDGE_QUESTION);
    const q = judgeQuestion(' A red fox\n in snow ');
    assert.ok(q.startsWith(JUDGE_QUESTION));
    assert.ok(q.endsWith('caption: A red fox in snow'));
  });
});
