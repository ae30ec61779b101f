/** Every workflow type the workers register. Deterministic code only (see workflows/README.md). */
export { smokeCheckpoint } from './smoke-checkpoint';
