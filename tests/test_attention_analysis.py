"""Chapter 06's analyses (`rl2_course.analysis.attention`, `record_mdp_trials`, `held_out_r2`):
the recorded MDP trials are the evaluator's, the Bayesian statistics are the counts by hand,
the attention weights are the core's own and come from its queries and keys, and the readout
of "where the heads look" gives 1 for content-blind attention and the truth for a planted one.

Fast: tiny random networks (no training, no pretrained assets).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rl2_course.evaluate_mdp
from rl2_course.agents import RecurrentActorCritic, RL2Agent
from rl2_course.analysis import (attention_to_earlier_visits, attention_weights, earlier_visits,
                                 held_out_r2, outcome_mask, outcome_steps, queries_keys_values,
                                 record_mdp_trials)
from rl2_course.analysis.attention import TARGETS
from rl2_course.baselines import make_mdp_baseline
from rl2_course.evaluate_mdp import evaluate_mdp
from rl2_course.settings import MDP_ACTIONS, MDP_STATES

EPISODES = 2                     # trials of 20 steps


def _network(cell: str = "attention", seed: int = 0) -> RecurrentActorCritic:
    torch.manual_seed(seed)
    options = {}
    if cell == "attention":
        options = dict(cell="attention", context=10 * EPISODES, attention_heads=2)
    return RecurrentActorCritic(MDP_STATES, MDP_ACTIONS, 8, **options).eval()


@pytest.fixture(scope="module")
def traces():
    agents = [RL2Agent(_network("gru"), name="rl2"),
              RL2Agent(_network("attention"), name="rl2-attention"),
              make_mdp_baseline("greedy", EPISODES)]
    return record_mdp_trials(agents, EPISODES, 12, seed=3)


# --------------------------------------------------------------------------- which steps

# a hand-made trial: states and actions of steps 0 … 6
STATES = np.array([0, 4, 0, 4, 4, 7, 0])
ACTIONS = np.array([1, 2, 3, 2, 0, 1, 1])


def test_earlier_visits_and_their_outcome_steps_by_hand():
    visits = earlier_visits(STATES[None])[0]
    assert [list(np.nonzero(row)[0]) for row in visits] == [[], [], [0], [1], [1, 3], [], [0, 2]]
    outcomes = outcome_mask(STATES[None])[0]
    # a visit at step i is reported by step i + 1's input (a_i, r_i arrive one step later)
    assert [list(np.nonzero(row)[0]) for row in outcomes] == [[], [], [1], [2], [2, 4], [], [1, 3]]
    same_pair = outcome_mask(STATES[None], ACTIONS[None])[0]
    # step 3 takes action 2 in state 4, as step 1 did; step 6 takes 1 in state 0, as step 0 did
    assert [list(np.nonzero(row)[0]) for row in same_pair] == [[], [], [], [2], [], [], [1]]
    for t in range(len(STATES)):
        assert list(outcome_steps(STATES, t)) == list(np.nonzero(outcomes[t])[0])
    assert not np.triu(outcomes, 1).any(), "an outcome step is never in the future"
    assert not (same_pair & ~outcomes).any()


# --------------------------------------------------------------------------- the recording

def test_recorded_trials_are_the_evaluators(traces):
    evaluation = evaluate_mdp(EPISODES, [RL2Agent(_network("gru")), "greedy"], 12, seed=3,
                              progress=False)
    for name in ("rl2", "greedy"):
        np.testing.assert_array_equal(traces[name].rewards.sum(1), evaluation.results[name].returns)
    gru, attention = traces["rl2"], traces["rl2-attention"]
    assert gru.inputs.shape == (10 * EPISODES, 12, MDP_STATES + MDP_ACTIONS + 2)
    assert gru.hidden.shape == attention.hidden.shape == (12, 10 * EPISODES, 8)
    assert traces["greedy"].hidden is None
    np.testing.assert_array_equal(gru.states[:, ::10], 0)            # episodes start in state 0
    np.testing.assert_array_equal(gru.reward_means, traces["greedy"].reward_means)   # same MDPs


def test_chunks_follow_the_evaluator(monkeypatch):
    monkeypatch.setattr(rl2_course.evaluate_mdp, "CHUNK_TRIALS", 3)    # 7 trials: 3 + 3 + 1
    trace = record_mdp_trials([make_mdp_baseline("psrl", EPISODES)], EPISODES, 7, seed=5)["psrl"]
    evaluation = evaluate_mdp(EPISODES, ["psrl"], 7, seed=5, progress=False)
    np.testing.assert_array_equal(trace.rewards.sum(1), evaluation.results["psrl"].returns)
    assert trace.inputs.shape[1] == trace.trials == 7


def test_reward_estimates_are_the_posterior_of_the_counts_so_far(traces):
    trace = traces["greedy"]
    visits, estimates = trace.visits_before(), trace.reward_estimates()
    np.testing.assert_array_equal(visits.sum((2, 3)),                   # one pair per earlier step
                                  np.broadcast_to(np.arange(trace.steps), (12, trace.steps)))
    rng = np.random.default_rng(0)
    for b, t in zip(rng.integers(0, 12, 20), rng.integers(0, trace.steps, 20)):
        for s, a in [(trace.states[b, t], trace.actions[b, t]), (0, 0)]:
            before = (trace.states[b, :t] == s) & (trace.actions[b, :t] == a)
            assert visits[b, t, s, a] == before.sum()
            posterior_mean = (1 + trace.rewards[b, :t][before].sum()) / (1 + before.sum())
            assert np.isclose(estimates[b, t, s, a], posterior_mean)
    lookup = trace.current_state(estimates)
    np.testing.assert_array_equal(lookup[3, 5], estimates[3, 5, trace.states[3, 5]])


# --------------------------------------------------------------------------- the weights

def test_attention_weights_are_the_cores_and_come_from_its_queries_and_keys(traces):
    model, trace = _network("attention"), traces["rl2-attention"]
    weights = attention_weights(model, trace.inputs)
    layers, B, heads, T, _ = weights.shape
    assert (layers, B, heads, T) == (2, 12, 2, 10 * EPISODES)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    assert not np.triu(weights, 1).any(), "nothing is read from the future"
    with torch.no_grad():
        _, _, direct = model.gru(torch.from_numpy(trace.inputs), model.initial_hidden(B),
                                 return_weights=True)
    np.testing.assert_allclose(weights[1], direct[1].numpy())
    for layer in range(layers):
        q, k, _ = queries_keys_values(model, trace.inputs, layer)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        scores = np.where(np.tri(T, dtype=bool), scores, -np.inf)
        recomputed = np.exp(scores - scores.max(-1, keepdims=True))
        np.testing.assert_allclose(recomputed / recomputed.sum(-1, keepdims=True), weights[layer],
                                   atol=1e-5)
    with pytest.raises(ValueError, match="no attention weights"):
        attention_weights(_network("gru"), trace.inputs)


def test_uniform_attention_scores_one_and_a_planted_lookup_scores_its_truth(traces):
    trace = traces["greedy"]
    T = trace.steps
    uniform = np.tri(T) / np.arange(1, T + 1)[:, None]                # 1/(t+1) on each j ≤ t
    weights = np.broadcast_to(uniform, (1, trace.trials, 3, T, T))
    readout = attention_to_earlier_visits(weights, trace.states, trace.actions)
    for target in TARGETS:
        np.testing.assert_allclose(readout.lift(target), 1.0)
    # a planted head: all weight, evenly, on the outcome steps of earlier visits (else on t)
    outcomes = outcome_mask(trace.states).astype(float)
    planted = np.where(outcomes.any(-1, keepdims=True), outcomes, np.eye(T))
    planted = (planted / planted.sum(-1, keepdims=True))[None, :, None]
    readout = attention_to_earlier_visits(planted, trace.states, trace.actions)
    assert readout.queries == int(earlier_visits(trace.states).any(-1).sum())
    np.testing.assert_allclose(readout.mass["outcomes"], 1.0)
    assert readout.lift("outcomes")[0, 0] == pytest.approx(1.0 / readout.uniform["outcomes"])
    assert 0 < readout.mass["same pair"][0, 0] < 1
    assert "outcomes of those visits" in readout.table()
    with pytest.raises(ValueError, match="expected weights"):
        attention_to_earlier_visits(planted[:, :3], trace.states, trace.actions)
    with pytest.raises(ValueError, match="visited before"):
        attention_to_earlier_visits(np.ones((1, 1, 1, 3, 3)), np.array([[0, 1, 2]]), np.zeros((1, 3)))


# --------------------------------------------------------------------------- the probe

def test_held_out_r2_recovers_a_linear_map_and_nothing_from_noise():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(40, 6, 5))
    targets = features @ rng.normal(size=(5, 2)) + 0.5
    np.testing.assert_allclose(held_out_r2(features, targets, seed=0, alpha=1e-6), 1.0, atol=1e-6)
    noise = rng.normal(size=(40, 6, 2))
    assert held_out_r2(features, noise, seed=0).max() < 0.1
    where = np.zeros((40, 6), dtype=bool)
    where[:, 3:] = True
    targets[:, :3] = rng.normal(size=(40, 3, 2)) * 100                # steps the probe must skip
    np.testing.assert_allclose(held_out_r2(features, targets, seed=0, where=where, alpha=1e-6), 1.0,
                               atol=1e-6)
    with pytest.raises(ValueError, match="same trials"):
        held_out_r2(features, targets[:10], seed=0)
