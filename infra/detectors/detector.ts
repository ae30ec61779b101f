/**
 * The contract every detector backend meets (ONNX models, an OpenAI-compatible vision endpoint): encoded images
 * in, P(real) out, one result per image, in order. A bad image yields an error item; the rest still score.
 */

/** The score of one image, or why it could not be scored. */
export type ScoreResult = { ok: true; pReal: number } | { ok: false; error: string };

export interface Detector {
  /** Unique name; the reward key and the Detector-Scoring column. */
  readonly name: string;
  /** Scores encoded images (JPEG, PNG or WebP bytes, sniffed by content, never by file name). */
  scoreEncoded(images: Buffer[], signal?: AbortSignal): Promise<ScoreResult[]>;
  /** Releases sessions, sockets and pools. */
  close(): Promise<void>;
}
