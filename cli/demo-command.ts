/**
 * `realgen demo` (`npm run demo`): bring the embedded stack up and run the whole realgen-mini RealGen loop on it —
 * data into MinIO, stage 1 (prompt optimizer), stage 2 (diffusion adapter), stage 3 (joint), RealBench evaluations
 * of checkpoints — with both worker classes inside this process, then print where everything is.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { stateDirFromEnv } from '../configs/dev-endpoints';
import { loadConfig } from '../configs/load';
import { configPath } from '../infra/mini/mini-world';
import { stackEnv, stackUp } from '../devstack/dev-stack';
import { addConfigOption, configFileOf } from './options';

export function registerDemoCommand(program: Command): void {
  addConfigOption(
    program.command('demo').description('start the embedded stack and run the realgen-mini pipeline end to end on it'),
  )
    .option('--run-id <id>', 'run id (default: demo-<time>)')
    .action(async (opts: { config?: string; runId?: string }, cmd: Command) => {
      const config = configFileOf(opts.config);
      const state = await stackUp({ stateDir: stateDirFromEnv(), log: console.log });
      Object.assign(process.env, stackEnv(state));
      const runId = opts.runId ?? `demo-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
      console.log(`\nTemporal UI: ${state.temporal.uiUrl}   MinIO console: ${state.minio.consoleUrl}\n`);
      const root = cmd.parent as Command;
      await root.parseAsync(['run', config, '--run-id', runId, '--embedded-workers', '--watch'], { from: 'user' });
      // Issue 15: the leaderboard always has the base generator and the real photos as rows beside the checkpoints.
      // The base evaluation is keyed by the generator's content digest and the photos by their hashes, and finished
      // shards are reused, so a second demo adds nothing but the lookups.
      const loaded = loadConfig(config);
      console.log('\nevaluating the base generator and the real photos (reused when already evaluated):');
      await root.parseAsync(['eval', '-c', config, '--base'], { from: 'user' });
      const bench = loaded.config.realbench.source.dir;
      if (bench)
        await root.parseAsync(
          ['eval', '-c', config, '--images', path.join(configPath(loaded, bench), 'images'), '--name', 'real-photos'],
          { from: 'user' },
        );
      else console.log('realbench.source.dir is not set: no real-photos row (the photos are read from that folder)');
      console.log('\nleaderboard (every model and checkpoint evaluated so far):');
      await root.parseAsync(['leaderboard', '-c', config], { from: 'user' });
      console.log(`\ncheckpoints: s3://<bucket>/runs/${runId}/stage-<n>/checkpoints/ (MinIO at ${state.minio.endpoint})`);
      console.log(
        `reports:     \`bin/realgen leaderboard\` and \`bin/realgen report <eval key>\`; HTML reports under evals/ in the bucket`,
      );
      console.log('Stop the stack with: bin/realgen dev down');
    });
}
