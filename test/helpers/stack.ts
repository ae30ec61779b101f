/**
 * The real stack for integration tests. `npm test` starts one stack for the whole run and exports its
 * coordinates (REALGEN_TEST_*); a test file run on its own starts a private stack and stops it afterwards.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { parseDocument } from 'yaml';
import type { Client as S3Client } from 'minio';
import { CheckpointStore } from '../../infra/s3/checkpoint-store';
import { createS3Client } from '../../infra/s3/s3-client';
import { stackDown, stackUp } from '../../devstack/dev-stack';
import type { StackState } from '../../devstack/stack-state';

export interface TestStack {
  temporalAddress: string;
  s3Endpoint: string;
  accessKeyFile: string;
  secretKeyFile: string;
  credentials: { accessKey: string; secretKey: string };
}

let stack: Promise<TestStack> | undefined;
let privateStateDir: string | undefined;

// Registered when the helper is imported (top level of a test file), so it runs after all of that file's tests.
after(async () => {
  if (privateStateDir === undefined) return;
  await stackDown(privateStateDir);
  rmSync(privateStateDir, { recursive: true, force: true });
});

function fromState(state: Pick<StackState, 'temporal' | 'minio' | 'secrets'>): TestStack {
  return {
    temporalAddress: state.temporal.address,
    s3Endpoint: state.minio.endpoint,
    accessKeyFile: state.secrets.accessKeyFile,
    secretKeyFile: state.secrets.secretKeyFile,
    credentials: {
      accessKey: readFileSync(state.secrets.accessKeyFile, 'utf8').trim(),
      secretKey: readFileSync(state.secrets.secretKeyFile, 'utf8').trim(),
    },
  };
}

/** The shared stack of this test run (started on first use when `npm test` did not start one). */
export function testStack(): Promise<TestStack> {
  stack ??= (async () => {
    const env = process.env;
    if (
      env.REALGEN_TEST_TEMPORAL_ADDRESS &&
      env.REALGEN_TEST_S3_ENDPOINT &&
      env.REALGEN_TEST_ACCESS_KEY_FILE &&
      env.REALGEN_TEST_SECRET_KEY_FILE
    ) {
      return fromState({
        temporal: { address: env.REALGEN_TEST_TEMPORAL_ADDRESS } as StackState['temporal'],
        minio: { endpoint: env.REALGEN_TEST_S3_ENDPOINT } as StackState['minio'],
        secrets: { accessKeyFile: env.REALGEN_TEST_ACCESS_KEY_FILE, secretKeyFile: env.REALGEN_TEST_SECRET_KEY_FILE },
      });
    }
    privateStateDir = mkdtempSync(path.join(os.tmpdir(), 'realgen-test-stack-'));
    const state = await stackUp({ stateDir: privateStateDir, ports: 'auto' });
    return fromState(state);
  })();
  return stack;
}

/** An S3 client on the test stack. */
export async function testS3(): Promise<S3Client> {
  const s = await testStack();
  return createS3Client({ endpoint: s.s3Endpoint, region: 'us-east-1', pathStyle: true, partSizeMiB: 5 }, s.credentials);
}

/** A fresh bucket (name unique to the test) and a store on it. */
export async function freshStore(label: string): Promise<CheckpointStore> {
  const client = await testS3();
  const bucket = `t-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63);
  const store = new CheckpointStore({ client, bucket });
  await store.ensureBucket();
  return store;
}

/** A run config file pointing at the test stack, written to a temp folder; returns its path. */
export async function testConfigFile(
  overrides: {
    bucket?: string;
    taskQueueSuffix?: string;
    mutate?: (doc: ReturnType<typeof parseDocument>) => void;
    stack?: TestStack;
  } = {},
): Promise<string> {
  const s = overrides.stack ?? (await testStack());
  const repo = path.resolve(__dirname, '..', '..');
  const doc = parseDocument(readFileSync(path.join(repo, 'configs', 'mini.yaml'), 'utf8'));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'realgen-test-config-'));
  const suffix = overrides.taskQueueSuffix ?? Math.random().toString(36).slice(2, 8);
  doc.setIn(['temporal', 'address'], s.temporalAddress);
  doc.setIn(['storage', 'endpoint'], s.s3Endpoint);
  doc.setIn(['storage', 'bucket'], overrides.bucket ?? `cfg-${suffix}`);
  doc.setIn(['storage', 'credentials', 'accessKeyId'], doc.createNode({ file: s.accessKeyFile }));
  doc.setIn(['storage', 'credentials', 'secretAccessKey'], doc.createNode({ file: s.secretKeyFile }));
  doc.setIn(['taskQueues', 'gpu'], `gpu-${suffix}`);
  doc.setIn(['taskQueues', 'cpu'], `cpu-${suffix}`);
  // Keep the model/data paths of the preset valid from the temp folder.
  const absolute = (p: unknown) => (typeof p === 'string' ? path.resolve(repo, 'configs', p) : p);
  for (const key of ['generator', 'tokenizer', 'descriptors']) doc.setIn(['models', key], absolute(doc.getIn(['models', key])));
  for (const list of [
    ['reward', 'detectors'],
    ['evaluation', 'detectors'],
  ]) {
    const n = (doc.getIn(list) as { items: unknown[] }).items.length;
    for (let i = 0; i < n; i++) doc.setIn([...list, i, 'manifest'], absolute(doc.getIn([...list, i, 'manifest'])));
  }
  doc.setIn(['reward', 'alignment', 'manifest'], absolute(doc.getIn(['reward', 'alignment', 'manifest'])));
  doc.setIn(['realbench', 'source', 'dir'], absolute(doc.getIn(['realbench', 'source', 'dir'])));
  overrides.mutate?.(doc);
  const file = path.join(dir, 'config.yaml');
  writeFileSync(file, doc.toString());
  return file;
}
