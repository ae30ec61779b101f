"""ml_collections config module that wraps an upstream flow_grpo/RealGen config for the external adapter.

Pass it as the upstream script's config file, naming the upstream config function after the colon:

    --config=<adapterDir>/realgen_config.py:flux_fast_guard

`config_flags.DEFINE_config_file` imports this file and calls `get_config("flux_fast_guard")`. That imports the
upstream config file (`$REALGEN_UPSTREAM_CONFIG`, default `config/grpo.py` relative to the working directory) and
calls its `get_config` with the same name. Then it changes what the adapter needs:

- `train.lora_path`: upstream's `base.py` sets it to None, and ml_collections refuses to override a None field
  from the command line ("Type <class 'NoneType'> of field config.train.lora_path is not supported for
  overriding"), so a resume could never pass `--config.train.lora_path=…`. Here it comes from the environment:
  `$REALGEN_RESUME_DIR/lora` when the adapter resumes (it sets REALGEN_RESUME_DIR to the resumed checkpoint's
  folder, which holds upstream's `lora/`), else `""`. `""` is falsy, so upstream's `if config.train.lora_path:`
  starts fresh; and the field is now a str, so a `--config.train.lora_path=…` override (a stage's `resumeArg`)
  is legal too and wins, ml_collections applying overrides after `get_config`.
"""
import importlib.util
import os


def _load_upstream(path):
    spec = importlib.util.spec_from_file_location("realgen_upstream_config", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"realgen_config: cannot load the upstream config file {path!r} ($REALGEN_UPSTREAM_CONFIG)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(name=None):
    path = os.path.abspath(os.environ.get("REALGEN_UPSTREAM_CONFIG", os.path.join("config", "grpo.py")))
    upstream = _load_upstream(path)
    config = upstream.get_config(name) if name else upstream.get_config()
    resume = os.environ.get("REALGEN_RESUME_DIR", "")
    config.train.lora_path = os.path.join(resume, "lora") if resume else ""
    return config
