/**
 * Which Temporal frontend and S3 endpoint a command talks to, decided once per process. First match wins:
 *  1. environment: REALGEN_TEMPORAL_ADDRESS, REALGEN_S3_ENDPOINT, REALGEN_S3_ACCESS_KEY_FILE / …_SECRET_KEY_FILE;
 *  2. the endpoints file of `realgen dev up` (`$REALGEN_STATE_DIR/endpoints.json`, default `<repo>/.realgen/`), but
 *     only for endpoints the config leaves on the stack's default ports (DEV_STACK_DEFAULTS, as configs/mini.yaml
 *     does): a config that names any other address is never redirected;
 *  3. the config itself.
 * The resolved config is what goes into workflow inputs, so histories show the endpoints actually used.
 */
import { DEV_STACK_DEFAULTS, devEndpointsFile, readDevEndpoints, stateDirFromEnv } from './dev-endpoints';
import type { RunConfig } from './schema';

/** Where each endpoint came from, for messages ("cannot reach Temporal at X (from Y)"). */
export interface EndpointSources {
  temporal: string;
  s3: string;
}

export interface ResolvedEndpoints {
  config: RunConfig;
  sources: EndpointSources;
}

/** Applies the rule above to `config`; `configLabel` names the config in `sources`. */
export function resolveEndpoints(
  config: RunConfig,
  env: NodeJS.ProcessEnv = process.env,
  configLabel = 'the config',
): ResolvedEndpoints {
  const stateDir = stateDirFromEnv(env);
  const temporalOnDefault = !env.REALGEN_TEMPORAL_ADDRESS && config.temporal.address === DEV_STACK_DEFAULTS.temporalAddress;
  const s3OnDefault = !env.REALGEN_S3_ENDPOINT && config.storage.endpoint.replace(/\/$/, '') === DEV_STACK_DEFAULTS.s3Endpoint;
  // Read only when it would be used, so a stale or broken file cannot affect a config that names its own endpoints.
  const dev = temporalOnDefault || s3OnDefault ? readDevEndpoints(stateDir) : null;
  const devLabel = `${devEndpointsFile(stateDir)} (written by \`realgen dev up\`)`;
  const sources: EndpointSources = { temporal: configLabel, s3: configLabel };
  let temporal = config.temporal;
  let storage = config.storage;

  if (env.REALGEN_TEMPORAL_ADDRESS) {
    temporal = { ...temporal, address: env.REALGEN_TEMPORAL_ADDRESS };
    sources.temporal = 'REALGEN_TEMPORAL_ADDRESS';
  } else if (dev && temporalOnDefault) {
    temporal = { ...temporal, address: dev.temporalAddress };
    sources.temporal = devLabel;
  }

  if (env.REALGEN_S3_ENDPOINT) {
    storage = { ...storage, endpoint: env.REALGEN_S3_ENDPOINT };
    sources.s3 = 'REALGEN_S3_ENDPOINT';
  } else if (dev && s3OnDefault) {
    // The stack's credentials go with its endpoint (its state folder may not be the one the config names).
    storage = {
      ...storage,
      endpoint: dev.s3Endpoint,
      credentials: { accessKeyId: { file: dev.accessKeyFile }, secretAccessKey: { file: dev.secretKeyFile } },
    };
    sources.s3 = devLabel;
  }
  if (env.REALGEN_S3_ACCESS_KEY_FILE)
    storage = { ...storage, credentials: { ...storage.credentials, accessKeyId: { file: env.REALGEN_S3_ACCESS_KEY_FILE } } };
  if (env.REALGEN_S3_SECRET_KEY_FILE) {
    storage = { ...storage, credentials: { ...storage.credentials, secretAccessKey: { file: env.REALGEN_S3_SECRET_KEY_FILE } } };
  }
  return { config: { ...config, temporal, storage }, sources };
}
