/**
 * The arena judge's question: which of two images is the more realistic one.
 *
 * This restates the RealGen paper's arena prompt (spec §4.3) in our own words: a detection expert compares two images
 * on hands and faces, repetitive patterns, lighting (an oily or greasy sheen in particular), edges and colour
 * consistency, and answers in a fixed line format. The answer formats it asks for are exactly the ones
 * `parseJudgeAnswer` (./verdict) accepts, so changing one means changing the other.
 *
 * The question names neither image as generated or real, and the judge is asked twice with the images swapped
 * (see ./verdict), because the original code always put the generated image first and so never measured order bias.
 */

/** The prefix of the answer line, as the judge is asked to write it. */
export const ANSWER_LINE_PREFIX = 'More Realistic Image:';

/** The question sent with every image pair (Image 1 is the first image attached, Image 2 the second). */
export const JUDGE_QUESTION = [
  'You are an expert in telling AI-generated images apart from real photographs.',
  'You are shown two images, Image 1 (the first attached) and Image 2 (the second attached). Decide which one is more',
  'likely to be a real photograph, that is, which is the more realistic image.',
  '',
  'Examine both images closely, in particular:',
  '- Hands and faces: finger count and shape, joints, teeth, eyes, ears, skin texture and facial symmetry.',
  '- Repetition: textures, objects or background details that repeat unnaturally or look tiled.',
  '- Lighting: whether light sources, shadows and reflections agree, and whether surfaces or skin have an unnatural',
  '  oily, greasy or plastic sheen.',
  '- Edges: object boundaries that are too smooth, melted, warped or that bleed into the background.',
  '- Colour: whether colours, white balance and saturation stay consistent across the whole image.',
  '',
  'You must pick exactly one image. Answer in exactly this format:',
  `${ANSWER_LINE_PREFIX} Image 1`,
  'or',
  `${ANSWER_LINE_PREFIX} Image 2`,
  'followed by one line that gives the main reason for your choice.',
].join('\n');

/**
 * The question, optionally followed by the caption both images were made for. The paper's judge saw the images only,
 * so arena runs leave the caption out by default; with it the judge can also penalise off-prompt content, which is a
 * different metric and must be reported as such.
 */
export function judgeQuestion(caption?: string): string {
  if (caption === undefined || caption.trim() === '') return JUDGE_QUESTION;
  return `${JUDGE_QUESTION}\n\nBoth images were made for this caption: ${caption.trim().replace(/\s+/g, ' ')}`;
}
