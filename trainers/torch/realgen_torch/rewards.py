"""Rewards from the reward service (`realgen serve reward`, docs/reward-service.md): one `POST /v1/score` per rank
per step with all of that rank's images (base64 PNG) and prompts, bearer token from the environment. A body larger
than `max_body_bytes` (the service refuses > 64 MiB by default; 72 FLUX images at 1024² come close) is split into
consecutive requests, in order."""
from __future__ import annotations

import base64
import io
import json
import math
import os
import time
import urllib.error
import urllib.request

import numpy as np

from .protocol import TrainerFailure


def png_base64(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="PNG", compress_level=1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


class RewardClient:
    def __init__(self, url: str, keys: list[str], token: str | None, timeout_s: float = 120.0, retries: int = 5,
                 max_body_bytes: int = 48 << 20):
        self.max_body_bytes = max_body_bytes
        self.url = url.rstrip("/")
        self.keys = keys
        self.token = token
        self.timeout_s = timeout_s
        self.retries = retries

    @staticmethod
    def token_from(env_name: str, token_file: str | None) -> str | None:
        tok = os.environ.get(env_name)
        if tok:
            return tok.strip()
        if token_file and os.path.exists(token_file):
            with open(token_file, encoding="utf-8") as f:
                return f.read().strip()
        return None

    def score(self, images: list[np.ndarray], prompts: list[dict]) -> dict[str, list[float]]:
        """uint8 HWC RGB images + prompts ({text, category}) → {key: [score per image]} for the configured keys."""
        encoded = [png_base64(im) for im in images]
        out: dict[str, list[float]] = {k: [] for k in self.keys}
        i = 0
        while i < len(encoded):
            j, size = i, 0
            while j < len(encoded) and (j == i or size + len(encoded[j]) + 1024 <= self.max_body_bytes):
                size += len(encoded[j]) + len(json.dumps(prompts[j])) + 8
                j += 1
            part = self._request(encoded[i:j], prompts[i:j], offset=i)
            for k in self.keys:
                out[k].extend(part[k])
            i = j
        return out

    def _request(self, encoded: list[str], prompts: list[dict], offset: int) -> dict[str, list[float]]:
        body = json.dumps({"images": encoded, "prompts": prompts}).encode()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        delay, last = 1.0, None
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(f"{self.url}/v1/score", data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                    reply = json.loads(r.read())
                break
            except urllib.error.HTTPError as err:
                msg = err.read().decode(errors="replace")[:300]
                if err.code in (400, 401, 413, 415):
                    raise TrainerFailure("ConfigInvalid", f"reward service {self.url}: HTTP {err.code} {msg}") from err
                last = f"HTTP {err.code} {msg}"
            except (urllib.error.URLError, OSError, ValueError) as err:
                last = str(err)
            if attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        else:
            raise TrainerFailure("Crash", f"reward service {self.url}: {last} (after {self.retries + 1} tries)")
        missing = [k for k in self.keys if k not in reply.get("keys", [])]
        if missing:
            raise TrainerFailure("ConfigInvalid", f"reward service {self.url} has no key(s) {missing}; it serves {reply.get('keys')}")
        out: dict[str, list[float]] = {k: [] for k in self.keys}
        for i, res in enumerate(reply["results"]):
            for k in self.keys:
                v = res.get("scores", {}).get(k)
                if not isinstance(v, (int, float)) or not math.isfinite(v):
                    err = (res.get("errors") or {}).get(k, "no score")
                    raise TrainerFailure("Crash", f"reward service: image {offset + i}, key {k}: {err}")
                out[k].append(float(v))
        return out
