import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  combineChoices,
  combinePreferences,
  parseJudgeAnswer,
  preferenceFromChoice,
  summarizeVerdicts,
  type PairVerdict,
} from '../../../domain/arena/verdict';

describe('parseJudgeAnswer', () => {
  it('reads the line format, case-insensitively, with markdown bold and a reason line', () => {
    assert.deepEqual(parseJudgeAnswer('More Realistic Image: Image 1\nNatural skin texture.'), {
      choice: 1,
      reason: 'Natural skin texture.',
      format: 'line',
    });
    assert.deepEqual(parseJudgeAnswer('**More Realistic Image:** Image 2\n\nReason: the other has six fingers'), {
      choice: 2,
      reason: 'the other has six fingers',
      format: 'line',
    });
    assert.equal(parseJudgeAnswer('**more realistic image: image 2**')?.choice, 2);
    assert.equal(parseJudgeAnswer('MORE REALISTIC IMAGE:IMAGE 1.')?.choice, 1);
    assert.equal(parseJudgeAnswer('- More Realistic Image: *Image 1*\r\nok')?.choice, 1);
    assert.equal(parseJudgeAnswer('Looking at both images.\nMore Realistic Image: Image 2\nEdges.')?.reason, 'Edges.');
    assert.equal(parseJudgeAnswer('More Realistic Image: Image 1')?.reason, '', 'a missing reason is tolerated');
    assert.equal(
      parseJudgeAnswer('More Realistic Image: Image 1\n**Reason:** the indoor_view has 2*2 tiles')?.reason,
      'the indoor_view has 2*2 tiles',
    );
  });

  it('reads the JSON format, bare or in one json fence, with exactly the two keys', () => {
    assert.deepEqual(parseJudgeAnswer('{"more_realistic": 2, "reason": "greasy skin on 1"}'), {
      choice: 2,
      reason: 'greasy skin on 1',
      format: 'json',
    });
    assert.equal(parseJudgeAnswer('```json\n{"more_realistic": 1, "reason": "x"}\n```')?.choice, 1);
    assert.equal(parseJudgeAnswer(' {"more_realistic":1,"reason":""} ')?.choice, 1);
  });

  it('rejects everything else', () => {
    const bad = [
      '',
      'Image 1',
      'I think the first one is more realistic.',
      'More Realistic Image: Image 3',
      'More Realistic Image: Neither',
      'More Realistic Image: Image 1 and Image 2',
      'More Realistic Image:\nImage 1',
      'More Realistic Image: Image 1\nMore Realistic Image: Image 2',
      'More Realistic Image: Image 1\nMore Realistic Image: unsure',
      '{"more_realistic": "1", "reason": "x"}',
      '{"more_realistic": 3, "reason": "x"}',
      '{"more_realistic": 1}',
      '{"more_realistic": 1, "reason": "x", "confidence": 0.9}',
      '{"more_realistic": 1, "reason": "x"',
      '[1]',
      '```json\nnot json\n```',
    ];
    for (const text of bad) assert.equal(parseJudgeAnswer(text), null, JSON.stringify(text));
    assert.equal(parseJudgeAnswer(undefined as unknown as string), null);
  });

  it('accepts a repeated but agreeing answer line', () => {
    assert.equal(parseJudgeAnswer('More Realistic Image: Image 2\nreason\n**More Realistic Image: Image 2**')?.choice, 2);
  });
});

describe('combining the two orders', () => {
  it('wins when both orders pick the generated image, loses when both pick the real one', () => {
    // generated first: generated is Image 1; real first: generated is Image 2.
    assert.deepEqual(combineChoices(1, 2), { outcome: 'win', score: 1, consistent: true, unparseable: false });
    assert.deepEqual(combineChoices(2, 1), { outcome: 'loss', score: 0, consistent: true, unparseable: false });
  });

  it('ties and flags an inconsistency when the judge followed the position', () => {
    assert.deepEqual(combineChoices(1, 1), { outcome: 'tie', score: 0.5, consistent: false, unparseable: false });
    assert.deepEqual(combineChoices(2, 2), { outcome: 'tie', score: 0.5, consistent: false, unparseable: false });
  });

  it('ties with unparseable: true when either order stayed unparseable', () => {
    for (const [a, b] of [
      [null, 2],
      [1, null],
      [null, null],
    ] as const) {
      assert.deepEqual(combineChoices(a, b), { outcome: 'tie', score: 0.5, consistent: false, unparseable: true });
    }
  });

  it('maps positions to preferences and treats agreeing equal preferences as a consistent tie', () => {
    assert.equal(preferenceFromChoice(1, 1), 'generated');
    assert.equal(preferenceFromChoice(1, 2), 'real');
    assert.equal(preferenceFromChoice(2, 2), 'generated');
    assert.deepEqual(combinePreferences('equal', 'equal'), { outcome: 'tie', score: 0.5, consistent: true, unparseable: false });
    assert.deepEqual(combinePreferences('generated', 'equal'), {
      outcome: 'tie',
      score: 0.5,
      consistent: false,
      unparseable: false,
    });
  });
});

describe('summarizeVerdicts', () => {
  it('counts outcomes, reports unparseable pairs separately and computes the consistency rate over parsed pairs', () => {
    const v: PairVerdict[] = [
      combineChoices(1, 2), // win
      combineChoices(1, 2), // win
      combineChoices(2, 1), // loss
      combineChoices(1, 1), // inconsistent tie
      combineChoices(null, 2), // unparseable tie
    ];
    const s = summarizeVerdicts(v);
    assert.equal(s.pairs, 5);
    assert.equal(s.wins, 2);
    assert.equal(s.losses, 1);
    assert.equal(s.ties, 2);
    assert.equal(s.inconsistent, 1);
    assert.equal(s.unparseable, 1);
    assert.equal(s.parsedPairs, 4);
    assert.equal(s.consistentPairs, 3);
    assert.equal(s.positionConsistency, 0.75);
    assert.equal(s.score, 3);
    assert.equal(s.winRate, 0.6);
    assert.ok(s.interval && s.interval.lower < 0.6 && s.interval.upper > 0.6 && s.interval.successes === 3);
  });

  it('returns nulls for no pairs and for no parsed pairs', () => {
    const empty = summarizeVerdicts([]);
    assert.equal(empty.winRate, null);
    assert.equal(empty.interval, null);
    assert.equal(empty.positionConsistency, null);
    const allBad = summarizeVerdicts([combineChoices(null, null)]);
    assert.equal(allBad.positionConsistency, null);
    assert.equal(allBad.winRate, 0.5);
  });
});
