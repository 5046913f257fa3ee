"""What the chapters' test cells call: float32-fit closeness and the learner's-own-work test."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from rl2_course.agents.recurrent import conv_output_size
from rl2_course.checks import assert_close, assert_own_work
from rl2_course.train import compute_gae

GAE = "rl2_course.train.compute_gae"
CONV = "rl2_course.agents.recurrent.conv_output_size"


def float32_gae(rewards, values, dones, last_value, gamma, lam):
    """A correct GAE that accumulates its advantages in float32 (as a learner may)."""
    advantages = np.zeros(values.shape, dtype=np.float32)
    next_advantage, next_value = np.zeros(values.shape[1], np.float32), last_value
    for t in reversed(range(len(rewards))):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * not_done * next_value - values[t]
        next_advantage = (delta + gamma * lam * not_done * next_advantage).astype(np.float32)
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


def test_a_correct_float32_gae_passes_where_allclose_defaults_reject_it():
    rng = np.random.default_rng(3)
    rewards = rng.random((25, 16)).round()
    rewards[-1] = 0.0                     # terminal steps with no reward: their return is exactly 0
    values = rng.normal(3.0, 1.0, size=(25, 16))
    dones = np.zeros((25, 16))
    dones[-1] = 1.0
    last_value = rng.normal(3.0, 1.0, size=16)
    mine = float32_gae(rewards, values, dones, last_value, 0.99, 0.9)
    reference = compute_gae(*(torch.from_numpy(a) for a in (rewards, values, dones, last_value)), 0.99, 0.9)
    assert (reference[1][-1] == 0).all()
    assert not np.allclose(mine[1], reference[1].numpy())        # the bug this replaces
    for name, ours, theirs in zip(("advantages", "returns"), mine, reference):
        assert_close(ours, theirs, name)


def test_assert_close_says_where_and_refuses_wrong_shapes_and_nan():
    with pytest.raises(AssertionError, match=r"returns differ in 1 of 3 entries; e.g. at \(1,\): yours 0.5, expected 0"):
        assert_close([0.0, 0.5, 1.0], [0.0, 0.0, 1.0], "returns")
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(AssertionError):
        assert_close([np.nan], [0.0])
    assert_close([1e6 + 50.0], [1e6])     # relative: 5e-5 of the magnitude is float32 noise


def _args():
    zeros = torch.zeros(3, 2)
    return zeros, zeros, zeros, torch.zeros(2), 0.9, 0.5


def calls_it(*args):
    return compute_gae(*args)


def own(rewards, values, dones, last_value, gamma, lam):
    return "mine"


@pytest.mark.parametrize("learner, says", [
    (compute_gae, "is the package's rl2_course.train.compute_gae itself"),
    (functools.partial(compute_gae), "is the package's rl2_course.train.compute_gae itself"),
    (calls_it, "calls the package's rl2_course.train.compute_gae"),
    (lambda *a: (lambda f: f(*a))(compute_gae), "calls the package's"),        # an alias in a closure
])
def test_a_learner_function_that_is_or_calls_the_reference_fails_clearly(learner, says):
    with pytest.raises(AssertionError, match=says):
        assert_own_work(learner, GAE, args=_args())
    assert compute_gae(*_args())[0].shape == (3, 2), "the reference is restored afterwards"


def test_a_copy_of_the_reference_code_fails_and_catching_the_trap_does_not_help():
    import types
    copied = types.FunctionType(compute_gae.__code__, compute_gae.__globals__, "copied")
    with pytest.raises(AssertionError, match="itself"):
        assert_own_work(copied, GAE, args=_args())

    def sly(*args):
        try:
            return compute_gae(*args)
        except Exception:
            return None
    with pytest.raises(AssertionError, match="calls the package's"):
        assert_own_work(sly, GAE, args=_args())


def test_methods_properties_and_methods_with_a_closure_are_trapped():
    from rl2_course.agents.recurrent import ConvEncoder
    from rl2_course.baselines.mdps import MDPBelief

    def dense(height, width):          # ConvEncoder's __init__ (super(): a closure) calls it
        return ConvEncoder(3, height, width).dense[0].in_features
    with pytest.raises(AssertionError, match="calls the package's rl2_course.agents.recurrent.conv_output_size"):
        assert_own_work(dense, CONV, args=(30, 40))
    with pytest.raises(AssertionError, match="calls the package's .*ConvEncoder.__init__"):
        assert_own_work(dense, "rl2_course.agents.recurrent.ConvEncoder.__init__", args=(30, 40))
    assert dense(30, 40) == 1536
    assert assert_own_work(lambda n: n + 1, "rl2_course.baselines.mdps.MDPBelief.reward_mean", args=(1,)) == 2
    assert isinstance(MDPBelief.reward_mean, property)


def test_own_work_passes_and_returns_its_result():
    assert assert_own_work(own, GAE, args=_args()) == "mine"


def test_a_notebook_that_rebinds_the_reference_fails(monkeypatch):
    import rl2_course.agents.recurrent as recurrent

    namespace = {"conv_output_size": lambda *a: 0}       # the name the checks compare with
    exec("def mine(size, kernel, stride, padding=0):\n    return 1", namespace)
    with pytest.raises(AssertionError, match="rebinds conv_output_size"):
        assert_own_work(namespace["mine"], CONV, args=(30, 5, 2))
    monkeypatch.setattr(recurrent, "conv_output_size", namespace["mine"])
    with pytest.raises(AssertionError, match="was replaced in this notebook"):
        assert_own_work(own, CONV, args=_args())
    assert conv_output_size(30, 5, 2) == 13
