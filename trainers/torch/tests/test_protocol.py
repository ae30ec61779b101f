"""Protocol failures: bad job specs and unusable resume folders become `error` events with the right kind."""
import json
import os

import helpers as H
from realgen_torch.protocol import validate_job_spec


def test_job_spec_is_strict(tmp_path):
    job = json.load(open(H.write_job(str(tmp_path), H.config())))
    assert validate_job_spec(job) == []
    assert validate_job_spec({**job, "extra": 1}) == ["extra: unknown field"]
    assert any(p.startswith("stopAtStep") for p in validate_job_spec({**job, "stopAtStep": 0}))


def run(job):
    rc, ev, err = H.run_trainer(job, "http://127.0.0.1:9")
    errors = [e for e in ev if e["type"] == "error"]
    return rc, errors


def test_unknown_field_is_config_invalid(tmp_path):
    path = H.write_job(str(tmp_path), H.config())
    job = json.load(open(path))
    job["bogus"] = True
    json.dump(job, open(path, "w"))
    rc, errors = run(path)
    assert rc == 1 and errors[0]["kind"] == "ConfigInvalid" and "bogus" in errors[0]["message"]


def test_missing_sde_window_is_config_invalid(tmp_path):
    cfg = H.config()
    del cfg["stages"][1]["grpo"]["sdeWindow"]
    rc, errors = run(H.write_job(str(tmp_path), cfg))
    assert rc == 1 and errors[0]["kind"] == "ConfigInvalid" and "sdeWindow" in errors[0]["message"]


def test_unusable_resume_folder_is_checkpoint_corrupt(tmp_path):
    bad = tmp_path / "ck"
    os.makedirs(bad)
    (bad / "state.json").write_text('{"format": "something-else"}')
    rc, errors = run(H.write_job(str(tmp_path), H.config(), start=2, resume=str(bad)))
    assert rc == 1 and errors[0]["kind"] == "CheckpointCorrupt"
