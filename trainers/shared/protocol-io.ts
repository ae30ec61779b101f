/**
 * The trainer side of the protocol for trainers written in TypeScript: reading the job spec, the failure class
 * whose kind becomes an `error` event, and writing events. The schemas themselves are contracts
 * (contracts/trainer-protocol.ts), shared with the supervisor activity.
 */
import { readFileSync } from 'node:fs';
import { JobSpecSchema, type JobSpec, type TrainerErrorKind, type TrainerEvent } from '../../contracts/trainer-protocol';

/** A trainer failure with the protocol's machine-readable kind (reported as an `error` event before exiting). */
export class TrainerFailure extends Error {
  constructor(
    readonly kind: TrainerErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'TrainerFailure';
  }
}

/** Reads and validates the job spec named by `--job <file>` (or REALGEN_JOB_SPEC); a bad one is `ConfigInvalid`. */
export function readJobSpec(argv: readonly string[] = process.argv, env: NodeJS.ProcessEnv = process.env): JobSpec {
  const i = argv.indexOf('--job');
  const file = i >= 0 ? argv[i + 1] : env.REALGEN_JOB_SPEC;
  if (!file) throw new TrainerFailure('ConfigInvalid', 'missing --job <job-spec.json>');
  const parsed = JobSpecSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new TrainerFailure(
      'ConfigInvalid',
      `${file}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`,
    );
  return parsed.data;
}

/** Writes one event as a JSON line (for trainers written in TypeScript). */
export function emit(event: TrainerEvent, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(event)}\n`);
}
