/** The `realgen` command. */
import { Command } from 'commander';
import { registerCheckpointCommands } from './checkpoint-commands';
import { registerCompareCommand } from './compare-command';
import { registerConfigCommands } from './config-commands';
import { registerDemoCommand } from './demo-command';
import { registerDevCommands } from './dev-commands';
import { registerEvalCommand } from './eval-command';
import { registerLeaderboardCommand } from './leaderboard-command';
import { registerMiniCommands } from './mini-commands';
import { registerQueueCommand } from './queue-command';
import { registerReportCommand } from './report-command';
import { registerRunCommand } from './run-command';
import { registerRunControlCommands } from './run-control-commands';
import { registerRetryCommand } from './retry-command';
import { registerScheduleCommands } from './schedule-commands';
import { registerServeCommands } from './serve-commands';
import { registerSmokeCommand } from './smoke-command';
import { exitQuietlyOnClosedStdout } from './terminal';
import { registerUiCommand } from './ui-command';
import { registerWatchCommand } from './watch-command';

exitQuietlyOnClosedStdout();

const program = new Command()
  .name('realgen')
  .description('Train and benchmark photorealistic text-to-image models the RealGen way, on Temporal')
  .version('0.1.0');

registerDevCommands(program);
registerConfigCommands(program);
registerSmokeCommand(program);
registerEvalCommand(program);
registerReportCommand(program);
registerLeaderboardCommand(program);
registerWatchCommand(program);
registerMiniCommands(program);
registerRunCommand(program);
registerRunControlCommands(program);
registerRetryCommand(program);
registerServeCommands(program);
registerDemoCommand(program);
registerUiCommand(program);
registerCheckpointCommands(program);
registerCompareCommand(program);
registerQueueCommand(program);
registerScheduleCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`realgen: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
