"""The trainer and the evaluators compute exactly what they computed before the redesign.

`tests/fingerprints.py` holds the runs (short seeded training runs of a bandit, an MDP with
truncated BPTT, the small maze with and without its extra training signals; seeded
evaluations of every family and of every shipped checkpoint) and how they were recorded.
"""

from __future__ import annotations

import json

import pytest

from rl2_course.files import json_safe

from fingerprints import (EVALUATIONS, RECORD, TRAINING_RUNS, evaluation_fingerprint,
                          training_fingerprint)

RECORDED = json.loads(RECORD.read_text())


def _same(a, b) -> bool:
    # NaN (a length no episode reached; recorded as NaN, printed as null since) is equal to
    # itself in JSON text, not as a float
    return json.dumps(json_safe(a), sort_keys=True) == json.dumps(json_safe(b), sort_keys=True)


@pytest.mark.parametrize("name", sorted(TRAINING_RUNS))
def test_a_short_training_run_reproduces_its_recorded_log_and_weights(name):
    recorded = RECORDED["training"][name]
    now = training_fingerprint(name)
    # columns added to the log since the recording (new diagnostics) are not compared
    assert [{k: row[k] for k in old} for row, old in zip(now["log"], recorded["log"])] == recorded["log"]
    assert now["weights_sha256"] == recorded["weights_sha256"]


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_a_seeded_evaluation_reproduces_its_recorded_numbers(name):
    recorded = RECORDED["evaluation"][name]
    now = evaluation_fingerprint(name)
    # keys added to the --json object since the recording (e.g. the maze's start protocol)
    # are not compared; every recorded one must be there with the same value
    assert _same({k: now.get(k) for k in recorded}, recorded)
