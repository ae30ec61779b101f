/**
 * Environment variable names a trainer config may set to a plain string: names known not to hold secrets.
 * Every other name takes `{ env }` / `{ file }` (a secret) or an explicit `{ plain: value }`, so a token pasted
 * into `stages[].trainer.env` is refused by `config check` instead of reaching a workflow history.
 */

/** Exact names whose values are settings, never credentials. */
const PLAIN_NAMES = new Set([
  'WANDB_MODE',
  'WANDB_PROJECT',
  'WANDB_DIR',
  'HF_HOME',
  'HF_HUB_OFFLINE',
  'HF_DATASETS_OFFLINE',
  'HF_HUB_ENABLE_HF_TRANSFER',
  'TRANSFORMERS_OFFLINE',
  'TOKENIZERS_PARALLELISM',
  'PYTHONUNBUFFERED',
  'PYTHONPATH',
  'PYTHONHASHSEED',
  'PYTORCH_CUDA_ALLOC_CONF',
  'LOG_LEVEL',
]);

/** Prefixes of setting families (threading, collectives, CUDA); none of them carries a credential. */
const PLAIN_PREFIXES = ['NCCL_', 'OMP_', 'MKL_', 'CUDA_', 'CUBLAS_', 'TORCH_', 'ACCELERATE_', 'DEEPSPEED_'];

/** True when `name` may be given as a plain string in `stages[].trainer.env`. */
export function isPlainEnvName(name: string): boolean {
  if (PLAIN_NAMES.has(name)) return true;
  if (/TOKEN|KEY|SECRET|PASSWORD|PASS|CREDENTIAL|AUTH/i.test(name)) return false;
  return PLAIN_PREFIXES.some((p) => name.startsWith(p));
}
