/** TLS options for Temporal connections (workers and clients), read from the files the config names. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RunConfig } from '../../configs/schema';

export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** `undefined` when TLS is off; otherwise the options both `Connection` and `NativeConnection` take. */
export function temporalTls(config: RunConfig, baseDir: string): TemporalTls | undefined {
  const tls = config.temporal.tls;
  if (!tls.enabled) return undefined;
  const read = (file: string, field: string) => {
    try {
      return readFileSync(path.resolve(baseDir, file));
    } catch (err) {
      throw new Error(`temporal.tls.${field}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  return {
    ...(tls.serverName ? { serverNameOverride: tls.serverName } : {}),
    ...(tls.serverRootCaCertFile ? { serverRootCACertificate: read(tls.serverRootCaCertFile, 'serverRootCaCertFile') } : {}),
    ...(tls.clientCertFile && tls.clientKeyFile
      ? { clientCertPair: { crt: read(tls.clientCertFile, 'clientCertFile'), key: read(tls.clientKeyFile, 'clientKeyFile') } }
      : {}),
  };
}
