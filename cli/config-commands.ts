/** `realgen config check FILE…`: every problem with its path, non-zero exit on any. */
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../configs/load';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('run configs');
  config
    .command('check')
    .description('validate run config files; prints each problem as `path: expected …, got …`')
    .argument('<files...>', 'YAML run configs')
    .action((files: string[]) => {
      let bad = 0;
      for (const file of files) {
        try {
          const loaded = loadConfig(file);
          const stages = loaded.config.stages
            .filter((s) => s.enabled)
            .map((s) => `${s.stage}:${s.trainer.backend}`)
            .join(' ');
          console.log(`${file}: ok (${loaded.config.name}; stages ${stages}; digest ${loaded.digest.slice(0, 12)})`);
        } catch (err) {
          // Any failure is reported against its file and the next file is still checked.
          const problems =
            err instanceof ConfigError
              ? err.problems
              : [{ path: '(file)', message: (err as Error).message.split('\n')[0] ?? 'error' }];
          bad++;
          console.log(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
          for (const p of problems) console.log(`  ${p.path}: ${p.message}`);
        }
      }
      if (bad > 0) process.exitCode = 1;
    });
}
