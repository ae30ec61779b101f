"""The trainer protocol `realgen-trainer/1` (docs/trainer-protocol.md; contracts/trainer-protocol.ts is the
authority): the job spec a trainer is started with and the JSON event lines it prints on stdout."""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

PROTOCOL = "realgen-trainer/1"
ERROR_KINDS = ("ConfigInvalid", "CheckpointCorrupt", "OutOfMemory", "DatasetMissing", "Crash")


class TrainerFailure(Exception):
    """A failure with the protocol's machine-readable kind (reported as an `error` event before exiting)."""

    def __init__(self, kind: str, message: str):
        assert kind in ERROR_KINDS, kind
        super().__init__(message)
        self.kind = kind


def emit(event: dict[str, Any], out=None) -> None:
    """One JSON line on stdout, flushed (non-zero ranks stay silent: see train.py)."""
    out = out or sys.stdout
    out.write(json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n")
    out.flush()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(cond: bool, path: str, msg: str, problems: list[str]) -> None:
    if not cond:
        problems.append(f"{path}: {msg}")


def validate_job_spec(spec: Any) -> list[str]:
    """Mirrors JobSpecSchema (z.strictObject): every field, its type, and no unknown field."""
    p: list[str] = []
    if not isinstance(spec, dict):
        return ["(root): expected an object"]
    fields = {
        "protocol": lambda v: v == PROTOCOL,
        "runId": lambda v: isinstance(v, str) and len(v) > 0,
        "stage": lambda v: _is_int(v) and 1 <= v <= 3,
        "stageKey": lambda v: isinstance(v, str) and len(v) > 0,
        "segment": lambda v: _is_int(v) and v >= 0,
        "attempt": lambda v: _is_int(v) and v >= 1,
        "config": lambda v: isinstance(v, dict),
        "configBaseDir": lambda v: isinstance(v, str) and len(v) > 0,
        "configDigest": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None,
        "startStep": lambda v: _is_int(v) and v >= 0,
        "stopAtStep": lambda v: _is_int(v) and v >= 1,
        "wallClockSeconds": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
        "saveEvery": lambda v: _is_int(v) and v >= 1,
        "resumeDir": lambda v: v is None or isinstance(v, str),
        "initDirs": lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "outputDir": lambda v: isinstance(v, str) and len(v) > 0,
        "gpuIds": lambda v: isinstance(v, list) and all(_is_int(x) and x >= 0 for x in v),
        "seed": lambda v: _is_int(v) and v >= 0,
    }
    for key, ok in fields.items():
        if key not in spec:
            p.append(f"{key}: required")
        else:
            _check(bool(ok(spec[key])), key, f"invalid value {json.dumps(spec[key])[:80]}", p)
    for key in spec:
        if key not in fields:
            p.append(f"{key}: unknown field")
    return p


def read_job_spec(argv: list[str] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Reads the job spec named by `--job <file>` (or REALGEN_JOB_SPEC); a bad one is `ConfigInvalid`."""
    argv = sys.argv if argv is None else argv
    env = os.environ if env is None else env
    file = argv[argv.index("--job") + 1] if "--job" in argv and argv.index("--job") + 1 < len(argv) else env.get("REALGEN_JOB_SPEC")
    if not file:
        raise TrainerFailure("ConfigInvalid", "missing --job <job-spec.json>")
    try:
        with open(file, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as err:
        raise TrainerFailure("ConfigInvalid", f"{file}: {err}") from err
    problems = validate_job_spec(spec)
    if problems:
        raise TrainerFailure("ConfigInvalid", f"{file}: " + "; ".join(problems))
    return spec
