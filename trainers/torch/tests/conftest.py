import os
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

import helpers  # noqa: E402


@pytest.fixture(scope="session")
def reward_service():
    """The real reward service (bin/realgen serve reward), shared by the tests of a session."""
    svc = helpers.RewardService(helpers.reward_service_config(tempfile.mkdtemp(prefix="realgen-torch-reward-")))
    yield svc
    svc.stop()
