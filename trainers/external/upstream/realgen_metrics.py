"""Runs an upstream training script with `wandb.log` hooked to also print protocol-parsable metric lines.

    accelerate launch … <adapterDir>/realgen_metrics.py scripts/train_flux_fast_guard.py --config=…

Upstream logs its rewards, clipfrac, approx_kl, … only to wandb (offline) and prints almost nothing. This wrapper
wraps `wandb.log` before the script runs; every call still goes to wandb, and the main process also prints one line

    realgen-metric global_step=<step> epoch=<epoch> <key>=<value> …

with every scalar value of the call (numbers, 0-d or 1-element arrays/tensors; images and the like are skipped),
which the stage's `metricPatterns` turn into progress events. The script then runs as `__main__` with
`sys.argv = [script, *args]`, exactly as if it had been started directly.
"""
import math
import os
import runpy
import sys


def _scalar(value):
    """A float for numbers and one-element numpy arrays / torch tensors; None for anything else."""
    if isinstance(value, (bool, int, float)):
        return float(value)
    item = getattr(value, "item", None)
    numel = getattr(value, "numel", None)  # torch
    count = numel() if callable(numel) else getattr(value, "size", None)  # numpy: .size is an int
    if callable(item) and count == 1:
        try:
            return float(item())
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def format_line(data, step=None):
    """The printed line for one `wandb.log(data, step=step)` call, or None when it holds no scalar."""
    parts = []
    if step is not None:
        parts.append(f"global_step={int(step)}")
    for key, value in data.items():
        v = _scalar(value)
        if v is None or not math.isfinite(v):
            continue
        name = "".join(c if c.isalnum() or c == "_" else "_" for c in str(key))
        parts.append(f"{name}={int(v) if key in ('epoch', 'inner_epoch') else repr(v)}")
    if len(parts) <= (1 if step is not None else 0):
        return None
    return "realgen-metric " + " ".join(parts)


def install():
    import wandb

    original = wandb.log

    def log(data=None, step=None, *args, **kwargs):
        result = original(data, step, *args, **kwargs)
        if isinstance(data, dict):
            line = format_line(data, step)
            if line is not None:
                print(line, flush=True)
        return result

    wandb.log = log


def main(argv):
    if len(argv) < 2:
        print("usage: realgen_metrics.py <upstream script> [args…]", file=sys.stderr)
        return 2
    install()
    sys.argv = argv[1:]
    # As `python <script>` would: the script's folder first on sys.path.
    sys.path[0] = os.path.dirname(os.path.abspath(argv[1]))
    runpy.run_path(argv[1], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
