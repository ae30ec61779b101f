/**
 * One context per `realgen` command: the config loaded once with its endpoints resolved once
 * (configs/resolve-endpoints.ts), and the Temporal client, object store and embedded workers built on first use and
 * closed by `withContext` whatever happens. The resolved config is the one every workflow input carries.
 */
import { Client, Connection } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { loadConfig, type LoadedConfig } from '../configs/load';
import { resolveEndpoints, type EndpointSources } from '../configs/resolve-endpoints';
import type { RunConfig } from '../configs/schema';
import type { CheckpointStore } from '../infra/s3/checkpoint-store';
import { openStore } from '../infra/s3/open-store';
import { temporalTls } from '../infra/temporal/temporal-tls';
import { createWorker, type WorkerClass } from '../workers/create-workers';
import { createWorkerContext, type WorkerContext } from '../workers/worker-context';

export interface CliContext {
  /** The config file as loaded, with `config` replaced by the resolved one (digest: of the file's config). */
  readonly loaded: LoadedConfig;
  readonly config: RunConfig;
  readonly sources: EndpointSources;
  /** The Temporal client (connected on first use); the error names the address tried and how to start a stack. */
  client(): Promise<Client>;
  /**
   * A checkpoint store on the config's bucket. Read paths never create the bucket (a missing one is an error saying
   * so); `create: true` is for commands that write (infra/s3/open-store.ts).
   */
  store(options?: { create: boolean }): Promise<CheckpointStore>;
  /**
   * Runs `fn` with workers of `classes` inside this process (the standard workers of workers/create-workers.ts);
   * they shut down gracefully when `fn` settles, and a worker that fails fails the call.
   */
  withWorkers<T>(classes: readonly WorkerClass[], fn: () => Promise<T>): Promise<T>;
}

/** Loads `configFile` and resolves its endpoints (the only place the CLI does either). */
export function loadResolved(configFile: string): { loaded: LoadedConfig; sources: EndpointSources } {
  const file = loadConfig(configFile);
  const { config, sources } = resolveEndpoints(file.config, process.env, file.file);
  return { loaded: { ...file, config }, sources };
}

/** Connects to Temporal; a failure says which address (and where it came from) and how to get a server there. */
export async function connectTemporal(config: RunConfig, baseDir: string, sources: EndpointSources): Promise<Client> {
  const tls = temporalTls(config, baseDir);
  const address = config.temporal.address;
  try {
    const connection = await Connection.connect({ address, connectTimeout: '5s', ...(tls ? { tls } : {}) });
    return new Client({ connection, namespace: config.temporal.namespace });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${address} (from ${sources.temporal}): ${(err as Error).message.split('\n')[0]}. ` +
        'Start the embedded stack with `realgen dev up` (it records its endpoints for every command), ' +
        'or point REALGEN_TEMPORAL_ADDRESS / temporal.address at a running server.',
    );
  }
}

/** Runs `fn` with a context on `configFile`, then stops embedded workers and closes every connection. */
export async function withContext<T>(configFile: string, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const { loaded, sources } = loadResolved(configFile);
  let client: Promise<Client> | undefined;
  const stores: { read?: Promise<CheckpointStore>; create?: Promise<CheckpointStore> } = {};
  const workerContexts: WorkerContext[] = [];
  const ctx: CliContext = {
    loaded,
    config: loaded.config,
    sources,
    client: () => (client ??= connectTemporal(loaded.config, loaded.baseDir, sources)),
    store: (options = { create: false }) =>
      (stores[options.create ? 'create' : 'read'] ??= openStore(loaded, { create: options.create, endpointSource: sources.s3 })),
    withWorkers: async <T>(classes: readonly WorkerClass[], fn: () => Promise<T>): Promise<T> => {
      // The worker context resolves the same file under the same environment, so it sees the same endpoints.
      const wctx = await createWorkerContext(configFile);
      workerContexts.push(wctx);
      const workers: Worker[] = [];
      for (const cls of classes) workers.push(await createWorker(wctx, cls));
      let running: Promise<T> = fn();
      for (const w of workers) running = w.runUntil(running);
      return await running;
    },
  };
  try {
    return await fn(ctx);
  } finally {
    for (const w of workerContexts) await w.close();
    if (client) await (await client.catch(() => null))?.connection.close();
  }
}
