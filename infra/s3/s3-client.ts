/** Builds an S3 client (the `minio` npm client speaks plain S3, so any S3 store works) from a run config. */
import { Client } from 'minio';
import type { RunConfig } from '../../configs/schema';
import { readSecret } from '../../configs/secrets';

export interface S3Credentials {
  accessKey: string;
  secretKey: string;
}

/** Resolves the storage credentials named by the config (env or files); the values never leave this process. */
export function resolveS3Credentials(config: RunConfig, baseDir: string, env: NodeJS.ProcessEnv = process.env): S3Credentials {
  return {
    accessKey: readSecret(config.storage.credentials.accessKeyId, baseDir, 'storage.credentials.accessKeyId', env),
    secretKey: readSecret(config.storage.credentials.secretAccessKey, baseDir, 'storage.credentials.secretAccessKey', env),
  };
}

/** An S3 client for `endpoint` (http or https URL). */
export function createS3Client(
  storage: Pick<RunConfig['storage'], 'endpoint' | 'region' | 'pathStyle' | 'partSizeMiB'> & { signPayload?: boolean },
  credentials: S3Credentials,
): Client {
  const url = new URL(storage.endpoint);
  const useSSL = url.protocol === 'https:';
  const client = new Client({
    endPoint: url.hostname,
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
    accessKey: credentials.accessKey,
    secretKey: credentials.secretKey,
    region: storage.region,
    pathStyle: storage.pathStyle,
    partSize: storage.partSizeMiB * 1024 * 1024,
  });
  // Over plain HTTP minio-js signs every request's payload, hashing each part a second time (our transfers already
  // hash every byte for the manifest) and making the server hash it again to check; that halved upload throughput
  // (bench:checkpoint). Payloads go as UNSIGNED-PAYLOAD, as they do over TLS; integrity is end to end instead:
  // each file's sha256 is in its manifest and is checked on every download and deep verify.
  if (!storage.signPayload) client.enableSHA256 = false;
  return client;
}
