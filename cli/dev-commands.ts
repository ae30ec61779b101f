/** `realgen dev up|down|status`: the embedded Temporal + MinIO stack. */
import type { Command } from 'commander';
import { devEndpointsFile, stateDirFromEnv } from '../configs/dev-endpoints';
import { stackDown, stackEnv, stackStatus, stackUp } from '../devstack/dev-stack';
import { DEFAULT_PORTS, type StackPorts } from '../devstack/ports';
import { intOption } from './options';
import { makeTable } from './terminal';

function parsePort(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 65535)
      throw new Error(`${flag}: expected a TCP port (1-65535), got ${JSON.stringify(value)}`);
    return n;
  };
}

export function registerDevCommands(program: Command): void {
  const dev = program
    .command('dev')
    .description('the embedded stack: a real Temporal dev server and a real MinIO, as local processes');
  const stateDirOption = [
    '--state-dir <dir>',
    'state folder (databases, object data, logs, generated credentials)',
    stateDirFromEnv(),
  ] as const;

  dev
    .command('up')
    .description('install (once) and start both servers; reuses servers that are already running and healthy')
    .option(...stateDirOption)
    .option('--auto-ports', 'pick free ports instead of the defaults')
    .option('--temporal-port <port>', `Temporal gRPC port (default ${DEFAULT_PORTS.temporal})`, parsePort('--temporal-port'))
    .option(
      '--temporal-ui-port <port>',
      `Temporal UI port (default ${DEFAULT_PORTS.temporalUi})`,
      parsePort('--temporal-ui-port'),
    )
    .option('--minio-port <port>', `MinIO S3 port (default ${DEFAULT_PORTS.minio})`, parsePort('--minio-port'))
    .option(
      '--minio-console-port <port>',
      `MinIO console port (default ${DEFAULT_PORTS.minioConsole})`,
      parsePort('--minio-console-port'),
    )
    .option('--timeout <seconds>', 'health-check timeout per server', intOption('--timeout', 1), 90)
    .option(
      '--print-env',
      'print `export` lines of the REALGEN_* variables that point clients at this stack (every command also finds it through <state>/endpoints.json)',
    )
    .action(
      async (opts: {
        stateDir: string;
        autoPorts?: boolean;
        temporalPort?: number;
        temporalUiPort?: number;
        minioPort?: number;
        minioConsolePort?: number;
        timeout: number;
        printEnv?: boolean;
      }) => {
        const ports: Partial<StackPorts> = {};
        if (opts.temporalPort) ports.temporal = opts.temporalPort;
        if (opts.temporalUiPort) ports.temporalUi = opts.temporalUiPort;
        if (opts.minioPort) ports.minio = opts.minioPort;
        if (opts.minioConsolePort) ports.minioConsole = opts.minioConsolePort;
        const log = (line: string) => (opts.printEnv ? console.error(line) : console.log(line));
        const state = await stackUp({
          stateDir: opts.stateDir,
          ports: opts.autoPorts ? 'auto' : ports,
          healthTimeoutSeconds: opts.timeout,
          log,
        });
        if (opts.printEnv) {
          for (const [k, v] of Object.entries(stackEnv(state))) console.log(`export ${k}=${JSON.stringify(v)}`);
        } else {
          console.log(`temporal ${state.temporal.address} (ui ${state.temporal.uiUrl})`);
          console.log(`every realgen command finds this stack through ${devEndpointsFile(state.stateDir)}`);
          console.log(
            `minio    ${state.minio.endpoint} (console ${state.minio.consoleUrl}); ` +
              `credentials in ${state.secrets.accessKeyFile} and ${state.secrets.secretKeyFile}`,
          );
        }
      },
    );

  dev
    .command('down')
    .description('stop both servers (data stays in the state folder)')
    .option(...stateDirOption)
    .action(async (opts: { stateDir: string }) => {
      await stackDown(opts.stateDir, console.log);
    });

  dev
    .command('status')
    .description('endpoints, versions, data folders and health of each server')
    .option(...stateDirOption)
    .option('--json', 'print JSON')
    .action(async (opts: { stateDir: string; json?: boolean }) => {
      const rows = await stackStatus(opts.stateDir);
      if (opts.json) {
        console.log(JSON.stringify(rows, null, 2));
      } else {
        // Narrow on purpose (≤ 100 columns): one short row per server, the long paths on their own lines below.
        const table = makeTable(['service', 'health', 'pid', 'endpoint', 'version']);
        for (const r of rows)
          table.push([r.name, r.healthy ? 'healthy' : r.running ? 'unhealthy' : 'stopped', r.pid ?? '-', r.endpoint, r.version]);
        console.log(table.toString());
        for (const r of rows) {
          console.log(`${r.name}:`);
          console.log(`  data ${r.dataDir}`);
          for (const part of r.detail.split('; ')) console.log(`  ${part}`);
        }
      }
      if (!rows.every((r) => r.healthy)) process.exitCode = 1;
    });
}
