/** `realgen demo`: bring the embedded stack up and run the realgen-mini loop on it. */
import path from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_STATE_DIR, REPO_ROOT, stackEnv, stackUp } from '../scripts/dev-stack';
import { runSmoke } from './smoke-command';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start the embedded stack and run the realgen-mini demo on it')
    .option('-c, --config <file>', 'run config', path.join(REPO_ROOT, 'configs', 'mini.yaml'))
    .action(async (opts: { config: string }) => {
      const state = await stackUp({ stateDir: process.env.REALGEN_STATE_DIR ?? DEFAULT_STATE_DIR, log: console.log });
      Object.assign(process.env, stackEnv(state));
      const runId = `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      console.log(`\nsmoke: committing and verifying a checkpoint for run ${runId}`);
      const t0 = Date.now();
      const result = await runSmoke({ config: opts.config, runId, sizeMib: 8, embeddedWorkers: true });
      console.log(`  checkpoint  s3://${result.committed.bucket}/${result.committed.prefix}`);
      console.log(`  manifest    sha256 ${result.committed.manifestSha256}`);
      console.log(`  verified    ${result.verified.files} files, ${result.verified.bytes} bytes, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      console.log(`\nTemporal UI: ${state.temporal.uiUrl}   MinIO console: ${state.minio.consoleUrl}`);
      console.log('Stop the stack with: bin/realgen dev down');
    });
}
