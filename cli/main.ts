/** The `realgen` command. */
import { Command } from 'commander';
import { registerConfigCommands } from './config-commands';
import { registerDemoCommand } from './demo-command';
import { registerDevCommands } from './dev-commands';
import { registerEvalCommands } from './eval-commands';
import { registerMiniCommands } from './mini-commands';
import { registerRunCommands } from './run-commands';
import { registerRetryCommand } from './retry-command';
import { registerServeCommands } from './serve-commands';
import { registerSmokeCommand } from './smoke-command';
import { registerWatchCommand } from './watch-command';

const program = new Command()
  .name('realgen')
  .description('Train and benchmark photorealistic text-to-image models the RealGen way, on Temporal')
  .version('0.1.0');

registerDevCommands(program);
registerConfigCommands(program);
registerSmokeCommand(program);
registerEvalCommands(program);
registerWatchCommand(program);
registerMiniCommands(program);
registerRunCommands(program);
registerRetryCommand(program);
registerServeCommands(program);
registerDemoCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`realgen: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
