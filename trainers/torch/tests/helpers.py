"""Test helpers: a run config like configs/mini.yaml (as the supervisor passes it, validated), job specs, the real
reward service (`bin/realgen serve reward`), and running the trainer as the supervisor does."""
from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CONFIGS = os.path.join(REPO, "configs")
DIGEST = "0" * 64

BASE_CONFIG = {
    "version": 1, "name": "torch-test", "seed": 42,
    "models": {"generator": "../models/realgen-mini/generator.json", "tokenizer": "../models/realgen-mini/tokenizer.json",
               "descriptors": "../models/realgen-mini/descriptors.json"},
    "reward": {
        "detectors": [{"name": "cnn-semantic", "manifest": "../models/realgen-mini/detector-cnn.json", "weight": 1},
                      {"name": "spectral", "manifest": "../models/realgen-mini/detector-spectral.json", "weight": 1}],
        "alignment": {"manifest": "../models/realgen-mini/align.json", "weight": 1},
        "service": {"listen": "127.0.0.1:18080", "maxBatch": 32, "maxWaitMs": 5},
    },
    "stages": [
        {"stage": 1, "enabled": False, "trainer": {"backend": "builtin"},
         "grpo": {"groupSize": 2, "promptsPerEpoch": 1, "batchSize": 2, "learningRate": 0.01, "clipRange": 0.2, "samplingSteps": 4},
         "budget": {"maxSteps": 1, "segmentSteps": 1}, "saveEvery": 1, "evalEvery": 1},
        {"stage": 2, "trainer": {"backend": "torch", "family": "mini", "numProcesses": 1, "threads": 1},
         "grpo": {"groupSize": 4, "promptsPerEpoch": 1, "batchSize": 2, "learningRate": 0.001, "klBeta": 0.0004,
                  "klMode": "velocity-mse", "clipRange": 0.01, "ratioNorm": True, "samplingSteps": 4, "noiseLevel": 0.9,
                  "sdeWindow": {"size": 2, "startMin": 0, "startMax": 2}, "lora": {"rank": 4, "alpha": 8},
                  "gradientAccumulationSteps": 2, "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weightDecay": 1e-4},
                  "gradClipNorm": 1, "advantage": {"std": "group", "eps": 1e-4, "clip": 5}},
         "budget": {"maxSteps": 3, "segmentSteps": 3, "segmentMinutes": 30}, "saveEvery": 1, "evalEvery": 1},
    ],
    "realbench": {"source": {"dir": "../../shared/realbench-data"}, "suite": "smoke", "shardSize": 8},
}


def realbench_dir() -> str:
    return os.path.normpath(os.path.join(CONFIGS, BASE_CONFIG["realbench"]["source"]["dir"]))


def config(trainer: dict | None = None, grpo: dict | None = None) -> dict:
    c = copy.deepcopy(BASE_CONFIG)
    c["stages"][1]["trainer"].update(trainer or {})
    c["stages"][1]["grpo"].update(grpo or {})
    return c


def flux_config() -> dict:
    return config(trainer={"family": "flux", "tiny": True, "resolution": 32, "maxSequenceLength": 8},
                  grpo={"lora": {"rank": 4, "alpha": 8}, "samplingSteps": 4, "sigmaShift": 3.0})


def gpu_ids() -> list[int]:
    """The job's GPUs: none (CPU) unless $REALGEN_TEST_GPU_IDS lists some (bench/gpu-check.sh runs tests on CUDA)."""
    raw = os.environ.get("REALGEN_TEST_GPU_IDS", "")
    return [int(x) for x in raw.split(",") if x.strip()]


def write_job(dir_: str, cfg: dict, *, start=0, stop=3, save_every=1, resume=None, seed=42, name="job.json", stage=2,
              init_dirs=None) -> str:
    os.makedirs(dir_, exist_ok=True)
    out = os.path.join(dir_, f"out-{name[:-5]}")
    os.makedirs(out, exist_ok=True)
    spec = {"protocol": "realgen-trainer/1", "runId": "run-test", "stage": stage, "stageKey": f"stage-{stage}", "segment": 0, "attempt": 1,
            "config": cfg, "configBaseDir": CONFIGS, "configDigest": DIGEST, "startStep": start, "stopAtStep": stop,
            "wallClockSeconds": 3600, "saveEvery": save_every, "resumeDir": resume, "initDirs": init_dirs or {}, "outputDir": out,
            "gpuIds": gpu_ids(), "seed": seed}
    path = os.path.join(dir_, name)
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trainer_env(url: str) -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", REALGEN_REWARD_URL=url)
    env.pop("REALGEN_JOB_SPEC", None)
    return env


def start_trainer(job: str, url: str) -> subprocess.Popen:
    """As the supervisor does: own process group, stdin closed, stdout/stderr piped."""
    return subprocess.Popen([sys.executable, "-m", "realgen_torch.train", "--job", job], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=trainer_env(url), start_new_session=True, text=True)


def read_events(proc: subprocess.Popen, until=None):
    """Events (dicts) from stdout until EOF, or until `until(event)` is true (then returns early)."""
    events = []
    for line in proc.stdout:
        line = line.strip()
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        if "type" in e:
            events.append(e)
            if until is not None and until(e):
                break
    return events


def run_trainer(job: str, url: str, timeout: float = 300):
    p = start_trainer(job, url)
    try:
        events = read_events(p)
        rc = p.wait(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    err = p.stderr.read()
    return rc, events, err


class RewardService:
    """The real reward service: `bin/realgen serve reward --config configs/mini.yaml` on a free loopback port.

    `--max-batch 1`: ONNX Runtime's scores depend on the batch an image lands in by ~1e-8 (measured on the alignment
    key), and dynamic batching makes that timing-dependent. Byte-identical resume needs batch-invariant rewards, so
    every image is scored alone here."""

    def __init__(self, config_file: str | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cfg = config_file or os.path.join(CONFIGS, "mini.yaml")
        args = [os.path.join(REPO, "bin", "realgen"), "serve", "reward", "--config", cfg, "--listen", f"127.0.0.1:{self.port}", "--threads", "1",
                "--max-batch", "1"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, text=True, cwd=REPO)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"reward service exited: {self.proc.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    self.health = json.loads(r.read())
                    return
            except urllib.error.HTTPError as err:
                if err.code == 401:  # up, and asking for its token
                    self.health = None
                    return
                time.sleep(0.3)
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("reward service did not become healthy in 90 s")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def processes_with(needle: str) -> list[int]:
    """Pids whose command line contains `needle`."""
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if needle.encode() in f.read():
                        out.append(int(pid))
            except OSError:
                pass
    return out


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def wait_gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if _state(p) not in (None, "Z")]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes still alive: {alive}")


def reward_service_config(dir_: str, token: str | None = None) -> str:
    """configs/mini.yaml with absolute paths, serving the reward keys of BASE_CONFIG (so the tests do not follow the
    preset's choice of reward detectors), and `reward.service.tokenFile` set when `token` is given; written into
    `dir_`."""
    import yaml

    with open(os.path.join(CONFIGS, "mini.yaml")) as f:
        cfg = yaml.safe_load(f)
    absolute = lambda p: os.path.normpath(os.path.join(CONFIGS, p))  # noqa: E731
    cfg["reward"]["detectors"] = [dict(d) for d in BASE_CONFIG["reward"]["detectors"]]
    cfg["reward"]["alignment"] = dict(BASE_CONFIG["reward"]["alignment"])
    for d in cfg["reward"]["detectors"] + cfg["evaluation"]["detectors"]:
        d["manifest"] = absolute(d["manifest"])
    cfg["reward"]["alignment"]["manifest"] = absolute(cfg["reward"]["alignment"]["manifest"])
    cfg["models"] = {k: (absolute(v) if isinstance(v, str) else v) for k, v in cfg["models"].items()}
    cfg["realbench"]["source"]["dir"] = absolute(cfg["realbench"]["source"]["dir"])
    for k in ("accessKeyId", "secretAccessKey"):
        cfg["storage"]["credentials"][k] = {"env": "REALGEN_TEST_UNUSED"}
    if token is not None:
        token_file = os.path.join(dir_, "reward-token")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        cfg["reward"]["service"]["tokenFile"] = token_file
    path = os.path.join(dir_, "reward-service.yaml" if token is None else "mini-token.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(cfg, f)
    return path


def mini_yaml_with_token(dir_: str, token: str) -> str:
    """The reward-service config of the tests with `reward.service.tokenFile` set, written into `dir_`."""
    return reward_service_config(dir_, token)
