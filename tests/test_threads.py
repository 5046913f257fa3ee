"""The same seed gives the same numbers whatever torch's thread count, where the code says so.

* Evaluation runs networks forward only; its numbers are checked here to be bit-identical at
  1 and 2 torch threads (the forward pass splits the work across threads without changing the
  order of any sum).
* Training fixes torch's thread count for its duration to the run's ``num_threads`` setting
  (`threads.deterministic_torch`): the caller's thread count must not matter, and the setting
  is recorded in the checkpoint. Between different ``num_threads`` the backward pass's sums may
  differ (measured: in the 7th digit for a 64-unit GRU), which is why it is a setting.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from rl2_course.agents import load_checkpoint
from rl2_course.evaluate import evaluate_bandit
from rl2_course.settings import pretrained_checkpoint
from rl2_course.threads import fixed_torch_threads
from rl2_course.train import TrainConfig, read_log, train

TINY = dict(updates=2, trials_per_update=8, hidden_size=8, ppo_epochs=1, minibatches=2,
            checkpoint_every=1000)


def test_evaluation_gives_the_same_numbers_at_1_and_2_threads():
    checkpoint = pretrained_checkpoint(5, 10)
    agents = ["rl2", "thompson", "ucb1", "random"]
    results = {}
    for threads in (1, 2):
        with fixed_torch_threads(threads):
            evaluation = evaluate_bandit(5, 10, agents, 300, seed=3, checkpoint=checkpoint)
        results[threads] = json.dumps(evaluation.to_json())
    assert results[1] == results[2]


def test_the_network_forward_pass_is_bit_identical_at_1_and_2_threads():
    """What evaluation computes, on a batch large enough for torch to split across threads:
    a sampled action is robust to a last-bit difference, this is not."""
    model, _ = load_checkpoint(pretrained_checkpoint(5, 10))
    x = torch.rand(20, 2000, model.input_size, generator=torch.Generator().manual_seed(0))
    outputs = {}
    for threads in (1, 2):
        with fixed_torch_threads(threads), torch.no_grad():
            hidden = model.initial_hidden(x.shape[1])
            steps = []
            for t in range(x.shape[0]):
                logits, value, hidden = model.step(x[t], hidden)
                steps.append(torch.cat([logits, value[:, None]], dim=1))
            outputs[threads] = torch.stack(steps)
    assert torch.equal(outputs[1], outputs[2])


def _trained(tmp_path, name: str, num_threads: int, caller_threads: int):
    with fixed_torch_threads(caller_threads):
        result = train(TrainConfig.for_bandit(3, 5, seed=7, num_threads=num_threads, **TINY),
                       tmp_path / name, progress=False)
    log = read_log(result.log_path)
    return result, {k: v for k, v in log.items() if k != "wall_seconds"}


@pytest.mark.parametrize("num_threads", [1, 2])
def test_training_does_not_depend_on_the_callers_thread_count(tmp_path, num_threads):
    if num_threads > (os.cpu_count() or 1):
        pytest.skip(f"num_threads={num_threads} is refused on a machine with {os.cpu_count()} CPU")
    one, one_log = _trained(tmp_path, "caller-1", num_threads, caller_threads=1)
    two, two_log = _trained(tmp_path, "caller-2", num_threads, caller_threads=2)
    for key, value in one.model.state_dict().items():
        assert torch.equal(value, two.model.state_dict()[key]), key
    assert all((one_log[c] == two_log[c]).all() for c in one_log)
    _, meta = load_checkpoint(one.checkpoint_path)
    assert meta["config"]["num_threads"] == num_threads     # the result says how it was made
