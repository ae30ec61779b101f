/** A Temporal client from a loaded run config (env overrides applied, TLS from files). */
import { Client, Connection } from '@temporalio/client';
import { applyEnvOverrides, type LoadedConfig } from '../../configs/load';
import { temporalTls } from './temporal-tls';

export async function connectClient(loaded: LoadedConfig): Promise<Client> {
  const config = applyEnvOverrides(loaded.config);
  const tls = temporalTls(config, loaded.baseDir);
  const connection = await Connection.connect({ address: config.temporal.address, ...(tls ? { tls } : {}) });
  return new Client({ connection, namespace: config.temporal.namespace });
}
