/** The mini preset pointed at a benchmark's private stack, for benchmarks that run the real pipeline. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument, type Document } from 'yaml';
import type { StackState } from '../devstack/stack-state';

const repo = path.resolve(__dirname, '..');

/**
 * Writes `configs/mini.yaml` with the stack's endpoints and credential files to `file`, after `edit` (more changes);
 * the preset's relative paths resolve against configs/, so they are made absolute for the copy.
 */
export function writeStackConfig(state: StackState, file: string, edit: (doc: Document) => void = () => undefined): string {
  const doc = parseDocument(readFileSync(path.join(repo, 'configs', 'mini.yaml'), 'utf8'));
  doc.setIn(['temporal', 'address'], state.temporal.address);
  doc.setIn(['storage', 'endpoint'], state.minio.endpoint);
  doc.setIn(['storage', 'credentials', 'accessKeyId'], doc.createNode({ file: state.secrets.accessKeyFile }));
  doc.setIn(['storage', 'credentials', 'secretAccessKey'], doc.createNode({ file: state.secrets.secretKeyFile }));
  edit(doc);
  writeFileSync(
    file,
    doc.toString().replace(/(\.\.\/)+/g, (rel) => `${path.resolve(repo, 'configs', rel)}/`),
  );
  return file;
}
