/** Every workflow type the workers register. Deterministic code only (see workflows/README.md). */
export { evaluateCheckpoint } from './evaluate-checkpoint';
export { realgenPipeline } from './realgen-pipeline';
export { smokeCheckpoint } from './smoke-checkpoint';
export { trainStage } from './train-stage';
export { watchCheckpoints } from './watch-checkpoints';
export { deliverNotification } from './deliver-notification';
export { scheduledEvaluation } from './scheduled-evaluation';
