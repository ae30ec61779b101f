"""The reward client against the real reward service: key order and weights, split requests, the bearer token."""
import os

import numpy as np
import pytest

import helpers as H
from realgen_torch.protocol import TrainerFailure
from realgen_torch.rewards import RewardClient

KEYS = ["alignment", "cnn-semantic", "spectral"]


def images(n=3):
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(n)]


PROMPTS = [{"text": "a red cat on a sofa", "category": "animals"}, {"text": "an old church"}, {"text": "a bowl of soup", "category": "dishes"}]


def test_scores_every_key_and_splits_large_bodies_in_order(reward_service):
    whole = RewardClient(reward_service.url, KEYS, None).score(images(), PROMPTS)
    assert sorted(whole) == KEYS and all(len(v) == 3 for v in whole.values())
    assert all(0 <= x <= 1 for k in ("cnn-semantic", "spectral") for x in whole[k])
    split = RewardClient(reward_service.url, KEYS, None, max_body_bytes=1).score(images(), PROMPTS)  # one image per request
    assert split == whole


def test_unknown_key_is_config_invalid(reward_service):
    with pytest.raises(TrainerFailure) as e:
        RewardClient(reward_service.url, ["no-such-detector"], None).score(images(1), PROMPTS[:1])
    assert e.value.kind == "ConfigInvalid"


def test_bearer_token(tmp_path):
    svc = H.RewardService(H.mini_yaml_with_token(str(tmp_path), "s3cret-token"))
    try:
        assert RewardClient(svc.url, KEYS, "s3cret-token").score(images(1), PROMPTS[:1])["spectral"]
        for bad in (None, "wrong"):
            with pytest.raises(TrainerFailure) as e:
                RewardClient(svc.url, KEYS, bad).score(images(1), PROMPTS[:1])
            assert e.value.kind == "ConfigInvalid" and "401" in str(e.value)
        os.environ["REALGEN_TEST_TOKEN_VAR"] = "s3cret-token"
        assert RewardClient.token_from("REALGEN_TEST_TOKEN_VAR", None) == "s3cret-token"
    finally:
        os.environ.pop("REALGEN_TEST_TOKEN_VAR", None)
        svc.stop()
