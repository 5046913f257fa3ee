"""Memory that can hold a trial: the cells, the optimiser-step settings, and the diagnostics.

Issue 26's pieces: update-gate bias initialisation and the layer-normalised GRU
(`agents.cells`), a separate value network, minibatches given in trials with an approx-KL
stop, a held entropy bonus, per-episode returns in the log, the memory-wipe ablation for
bandits and MDPs, and gate retention (`analysis.memory`).
"""

import dataclasses
import json

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, load_checkpoint
from rl2_course.agents.cells import LayerNormGRU, make_cell, run_cell, update_gates
from rl2_course.analysis.memory import episode_returns, gate_retention
from rl2_course.cli import main
from rl2_course.errors import UsageError
from rl2_course.rollout import TrialRecord
from rl2_course.train import (KL_LR_BOUNDS, KL_LR_FACTOR, TrainConfig, adapt_learning_rate, fresh_state,
                              ppo_update, read_log, schedule, train)
from test_train import _uneven_trials, assert_same_params, params, tiny


def kept_after(cell: str, bias: float, steps: int) -> np.ndarray:
    """Per unit, h_steps / h_0 for a cell fed zeros from a stored positive state."""
    torch.manual_seed(0)
    core = make_cell(cell, 4, 32, bias)
    if isinstance(core, torch.nn.GRU):
        from rl2_course.agents.cells import init_gru

        init_gru(core, bias)
    h0 = torch.rand(1, 32) + 0.5
    with torch.no_grad():
        _, h = run_cell(core, torch.zeros(steps, 1, 4), h0)
    return (h / h0).squeeze(0).numpy()


@pytest.mark.parametrize("cell", ["gru", "lngru"])
def test_a_cell_initialised_to_hold_keeps_a_stored_value_over_100_steps(cell):
    assert np.median(kept_after(cell, 8.0, 100)) >= 0.9
    # with zero gate biases (the usual initialisation) the stored value is gone within 100 steps
    assert np.median(np.abs(kept_after(cell, 0.0, 100) - 1.0)) > 0.3


def test_update_gates_are_the_cells_own_gates():
    torch.manual_seed(1)
    x, h0 = torch.randn(7, 3, 5), torch.randn(3, 6)
    for cell in ("gru", "lngru"):
        core = make_cell(cell, 5, 6, 2.0)
        z = update_gates(core, x, h0)
        assert z.shape == (7, 3, 6) and bool(((z > 0) & (z < 1)).all())
    # the nn.GRU formula against torch's own step: h' = (1 - z) n + z h, so with n known ...
    gru = make_cell("gru", 5, 6)
    hidden, _ = run_cell(gru, x, h0)
    z = update_gates(gru, x, h0)
    # ... a GRU whose candidate is fed the same h but a gate of 1 would keep h: check the
    # recomputed z reproduces the next state from the candidate torch computed
    H = 6
    previous = torch.cat([h0[None], hidden[:-1]])
    r = torch.sigmoid(x @ gru.weight_ih_l0[:H].T + gru.bias_ih_l0[:H]
                      + previous @ gru.weight_hh_l0[:H].T + gru.bias_hh_l0[:H])
    n = torch.tanh(x @ gru.weight_ih_l0[2 * H:].T + gru.bias_ih_l0[2 * H:]
                   + r * (previous @ gru.weight_hh_l0[2 * H:].T + gru.bias_hh_l0[2 * H:]))
    assert torch.allclose((1 - z) * n + z * previous, hidden, atol=1e-5)


def test_memory_options_travel_in_the_spec_and_the_first_specs_still_load():
    model = RecurrentActorCritic(10, 5, 16, cell="lngru", update_gate_bias=3.0, value_network="separate")
    spec = model.spec()
    assert spec["cell"] == "lngru" and spec["update_gate_bias"] == 3.0 and spec["value_network"] == "separate"
    again = RecurrentActorCritic.from_spec(spec)
    assert isinstance(again.gru, LayerNormGRU) and again.state_size == 32
    plain = RecurrentActorCritic(10, 5, 16)
    assert set(plain.spec()) == {"class", "observation_size", "num_actions", "hidden_size", "encoder"}
    assert isinstance(LayerNormGRU(3, 4).update_bias, torch.nn.Parameter)


def test_a_separate_value_network_keeps_the_value_loss_out_of_the_policys_memory():
    torch.manual_seed(0)
    model = RecurrentActorCritic(1, 3, 8, value_network="separate")
    x = torch.randn(6, 4, model.input_size)
    states, _ = model.hidden_sequence(x, model.initial_hidden(4))
    logits, values = model.heads(states)
    assert states.shape == (6, 4, 16) and logits.shape == (6, 4, 3) and values.shape == (6, 4)
    values.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.gru.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.value_gru.parameters())
    # one step at a time gives the same as the whole sequence
    with torch.no_grad():
        h = model.initial_hidden(4)
        for t in range(6):
            step_logits, step_value, h = model.step(x[t], h)
        assert torch.allclose(step_logits, logits[-1], atol=1e-5) and torch.allclose(h, states[-1], atol=1e-5)


def test_minibatches_given_in_trials_set_the_adam_steps_and_target_kl_stops_an_update():
    lengths, steps = [5] * 16, 5
    for size, expected in ((4, 2 * 4), (16, 2 * 1), (3, 2 * 6)):
        config = tiny(minibatch_size=size)          # 2 epochs over 16 trials
        state = fresh_state(config)
        stats = ppo_update(state.model, state.optimizer, _uneven_trials(config, lengths, steps, 0.0),
                           config, 0.01, np.random.default_rng(0))
        assert stats["adam_steps"] == expected
    config = tiny(minibatch_size=1, learning_rate=0.05, target_kl=1e-6)
    state = fresh_state(config)
    stats = ppo_update(state.model, state.optimizer, _uneven_trials(config, lengths, steps, 0.0),
                       config, 0.01, np.random.default_rng(0))
    assert 1 <= stats["adam_steps"] < 2 * 16
    for bad in (dict(minibatch_size=0), dict(target_kl=0.0), dict(entropy_hold=1.0),
                dict(cell="lstm"), dict(value_network="own"), dict(lr_schedule="cosine"),
                dict(lr_schedule="kl", target_kl=None), dict(lr_max=0.0), dict(lr_max=2.0)):
        with pytest.raises(UsageError):
            tiny(**bad).validate()


def test_the_entropy_bonus_can_be_held_before_it_decays():
    config = tiny(entropy_coef=0.02, entropy_coef_final=0.0, entropy_hold=0.5, schedule_updates=10)
    assert [round(schedule(config, u, 0.0)[1], 6) for u in (0, 5, 6, 10)] == [0.02, 0.02, 0.016, 0.0]
    plain = dataclasses.replace(config, entropy_hold=0.0)
    assert [round(schedule(plain, u, 0.0)[1], 6) for u in (0, 5, 10)] == [0.02, 0.01, 0.0]


def test_the_kl_schedule_shrinks_a_step_the_trust_region_stopped_and_grows_a_timid_one():
    stopped, timid = dict(kl_stopped=1.0, last_epoch_kl=0.05), dict(kl_stopped=0.0, last_epoch_kl=0.001)
    inside = dict(kl_stopped=0.0, last_epoch_kl=0.01)
    assert adapt_learning_rate(1e-3, stopped, 0.01) == pytest.approx(1e-3 / KL_LR_FACTOR)
    assert adapt_learning_rate(1e-3, timid, 0.01) == pytest.approx(1e-3 * KL_LR_FACTOR)
    assert adapt_learning_rate(1e-3, inside, 0.01) == 1e-3
    assert adapt_learning_rate(KL_LR_BOUNDS[1], timid, 0.01) == KL_LR_BOUNDS[1]
    assert adapt_learning_rate(KL_LR_BOUNDS[0], stopped, 0.01) == KL_LR_BOUNDS[0]
    assert adapt_learning_rate(1e-3, timid, 0.01, lr_max=1e-3) == 1e-3     # the author's ceiling


def test_under_the_kl_schedule_the_learning_rate_follows_the_updates_not_the_clock(tmp_path):
    # a tiny target: every update passes it, so each one divides the rate, whatever the schedule
    result = train(tiny(updates=3, minibatch_size=4, target_kl=1e-9, lr_schedule="kl",
                        learning_rate=0.01), tmp_path / "kl", progress=False)
    log = read_log(result.log_path)
    assert log["learning_rate"] == pytest.approx([0.01 / KL_LR_FACTOR ** u for u in range(3)], rel=1e-5)
    assert (log["adam_steps"] < 2 * 4).all()       # ... because the stop ended every update


@pytest.mark.parametrize("options", [dict(cell="lngru", value_network="separate", update_gate_bias=2.0),
                                     dict(minibatch_size=4, target_kl=0.02, entropy_hold=0.5),
                                     dict(minibatch_size=4, target_kl=0.002, lr_schedule="kl")])
def test_new_memory_and_optimiser_options_train_log_and_resume_bit_for_bit(tmp_path, options):
    straight = train(tiny(updates=4, **options), tmp_path / "a", progress=False)
    train(tiny(updates=2, **options), tmp_path / "b", progress=False)
    resumed = train(tiny(updates=4, **options), tmp_path / "b", resume=True, progress=False)
    assert_same_params(params(straight.model), params(resumed.model))
    log = read_log(straight.log_path)
    assert {"first_episode_return", "last_episode_return", "adam_steps"} <= set(log)
    rewards_per_pull = (log["first_episode_return"], log["last_episode_return"])
    assert all(((r >= 0) & (r <= 1)).all() for r in rewards_per_pull)   # a bandit pull pays 0 or 1
    model, _ = load_checkpoint(straight.checkpoint_path)
    assert model.spec() == straight.model.spec()


def test_episode_returns_and_gate_retention_by_hand():
    record = TrialRecord(actions=np.zeros((2, 6), dtype=np.int64),
                         rewards=np.array([[1, 2, 3, 4, 5, 6], [0, 0, 1, 0, 0, 1]], dtype=float),
                         episode_done=np.array([[0, 0, 1, 0, 0, 1]] * 2, dtype=bool))
    assert episode_returns(record, 2).tolist() == [[6, 15], [1, 1]]
    z = np.ones((5, 1, 2))
    z[:, :, 1] = 0.5
    assert np.allclose(gate_retention(z, 2), [1.0, 0.25])
    assert np.isnan(gate_retention(z, 5)).all()


def test_the_memory_wipe_ablation_plays_episode_1_like_rl2_and_analyse_memory_reports(capsys):
    assert main(["analyse", "memory", "mdp", "--episodes", "10", "--trials", "20", "--seed", "3",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    profile = out["profile"]
    assert set(profile) == {"rl2", "rl2-forgetful", "greedy"} and len(profile["rl2"]) == 10
    assert profile["rl2"][0] == profile["rl2-forgetful"][0]          # same dice, same episode 1
    assert {"1", "10", "50"} <= set(out["retention"])
    assert main(["evaluate", "bandit", "--arms", "5", "--episodes", "10", "--agents",
                 "rl2,rl2-forgetful", "--trials", "20", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["results"]) == {"rl2", "rl2-forgetful"}
