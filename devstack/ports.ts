/** The stack's ports: defaults, free ones for `--auto-ports`, and the check that they are free before starting. */
import { DEV_STACK_DEFAULTS } from '../configs/dev-endpoints';
import { freePort, portIsFree } from '../infra/net/free-port';
import { describePortHolder, findPortHolder } from './port-holder';

/** Ports of the stack; `auto` picks free ones. */
export interface StackPorts {
  temporal: number;
  temporalUi: number;
  temporalHttp: number;
  temporalMetrics: number;
  minio: number;
  minioConsole: number;
}

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

export const DEFAULT_PORTS: StackPorts = {
  temporal: portOf(DEV_STACK_DEFAULTS.temporalAddress),
  temporalUi: 8233,
  temporalHttp: 7243,
  temporalMetrics: 7244,
  minio: portOf(DEV_STACK_DEFAULTS.s3Endpoint),
  minioConsole: 9001,
};

/** What each port is for, in messages. */
export const PORT_ROLES: Record<keyof StackPorts, string> = {
  temporal: 'Temporal gRPC',
  temporalUi: 'Temporal UI',
  temporalHttp: 'Temporal HTTP',
  temporalMetrics: 'Temporal metrics',
  minio: 'MinIO S3 API',
  minioConsole: 'MinIO console',
};

/** Free ports for every service (tests run their own stack beside a developer's). */
export async function autoPorts(): Promise<StackPorts> {
  return {
    temporal: await freePort(),
    temporalUi: await freePort(),
    temporalHttp: await freePort(),
    temporalMetrics: await freePort(),
    minio: await freePort(),
    minioConsole: await freePort(),
  };
}

/**
 * Fails at once when a port a server is about to bind is taken, naming each such port, its role and its holder
 * (a server that cannot bind exits at once, and waiting for its health would only time out).
 */
export async function assertPortsFree(ports: Partial<StackPorts>): Promise<void> {
  const taken: string[] = [];
  for (const [role, port] of Object.entries(ports) as Array<[keyof StackPorts, number]>) {
    if (!(await portIsFree(port))) taken.push(`${PORT_ROLES[role]} ${describePortHolder(findPortHolder(port))}`);
  }
  if (taken.length > 0) {
    throw new Error(
      `cannot start the stack: ${taken.join('; ')} already in use. Stop the holder, choose ports (see --help) or use --auto-ports`,
    );
  }
}
