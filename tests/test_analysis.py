"""Chapter 05's analyses: probes recover known linear maps, decisions are judged exactly, OOD
runs are deterministic and honest about what a checkpoint can play, and the CLI fails in one line.

Fast: tiny freshly trained checkpoints (a few seconds of training), no pretrained assets needed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from rl2_course.agents import RL2Agent
from rl2_course.agents.checkpoint import export_checkpoint
from rl2_course.analysis import (BanditCondition, LinearProbe, MDPCondition, bandit_conditions,
                                 bandit_ood, compare_with_bayes_optimal, counts_before_each_pull,
                                 fit_ridge, mdp_conditions, mdp_ood, probe_bandit_agent, r2_score,
                                 random_network_like, record_bandit_trials, split_trials)
from rl2_course.baselines.bayes_optimal import solve_bayes_optimal
from rl2_course.envs import BernoulliBandits, make_bandit_trials
from rl2_course.errors import UsageError
from rl2_course.evaluate import agent_seed, evaluate_bandit
from rl2_course.rollout import TrialStepper
from rl2_course.train import TrainConfig, train

TINY = dict(trials_per_update=16, hidden_size=8, ppo_epochs=2, minibatches=2, schedule_updates=6)


@pytest.fixture(scope="module")
def bandit_run(tmp_path_factory):
    """A tiny RL² agent for k=3, n=5 (one update: barely trained, which is all these tests need)."""
    root = tmp_path_factory.mktemp("analysis")
    return train(TrainConfig.for_bandit(3, 5, updates=1, **TINY), root / "run", progress=False)


@pytest.fixture(scope="module")
def mdp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis-mdp")
    return train(TrainConfig.for_mdp(2, updates=2, trials_per_update=8, hidden_size=16),
                 root / "run", progress=False)


# --------------------------------------------------------------------------- ridge and R²

def test_probe_recovers_a_known_linear_map_and_finds_nothing_in_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 12)) * rng.uniform(0.1, 10, size=12)     # units of any scale
    W = rng.normal(size=(12, 3))
    b = np.array([1.0, -2.0, 0.5])
    Y = X @ W + b + 0.01 * rng.normal(size=(4000, 3))
    train_rows, test_rows = slice(0, 3000), slice(3000, None)

    fit = fit_ridge(X[train_rows], Y[train_rows], alpha=0.0)
    assert np.allclose(fit.weights, W, atol=1e-3) and np.allclose(fit.bias, b, atol=1e-2)
    probe = LinearProbe.fit(X[train_rows], Y[train_rows], alpha=1.0)
    r2 = r2_score(Y[test_rows], probe.predict(X[test_rows]))
    assert r2.shape == (3,) and np.all(r2 > 0.999)

    noise = rng.normal(size=(4000, 2))                                    # unrelated to X
    probe = LinearProbe.fit(X[train_rows], noise[train_rows], alpha=1.0)
    r2 = r2_score(noise[test_rows], probe.predict(X[test_rows]))
    assert np.all(np.abs(r2) < 0.03)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 40.0])
def test_ridge_closed_form_matches_numpy_lstsq(alpha):
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(300, 7)), rng.normal(size=(300, 2))
    fit = fit_ridge(X, Y, alpha)
    # the same problem as least squares: a free intercept column, and √α·I rows penalising W only
    design = np.vstack([np.hstack([X, np.ones((300, 1))]),
                        np.hstack([np.sqrt(alpha) * np.eye(7), np.zeros((7, 1))])])
    target = np.vstack([Y, np.zeros((7, 2))])
    solution = np.linalg.lstsq(design, target, rcond=None)[0]
    assert np.allclose(fit.weights, solution[:7]) and np.allclose(fit.bias, solution[7])
    assert np.allclose(fit.predict(X), X @ solution[:7] + solution[7])


def test_ridge_handles_one_target_and_refuses_bad_shapes():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    fit = fit_ridge(X, y)
    assert fit.weights.shape == (3,) and np.allclose(fit.weights, [1, 2, 3])
    with pytest.raises(ValueError):
        fit_ridge(X, y[:10])
    with pytest.raises(ValueError):
        fit_ridge(X, y, alpha=-1.0)


def test_r2_score_edges():
    y = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    assert np.allclose(r2_score(y[:, :1], y[:, :1]), 1.0)
    assert np.allclose(r2_score(y[:, :1], np.full((3, 1), 2.0)), 0.0)      # the mean: R² = 0
    assert np.isnan(r2_score(y, y)[1])                                      # constant: nothing to explain


def test_split_is_by_trial_deterministic_and_disjoint():
    train_a, test_a = split_trials(100, seed=3)
    train_b, test_b = split_trials(100, seed=3)
    assert np.array_equal(train_a, train_b) and np.array_equal(test_a, test_b)
    assert len(test_a) == 25 and not set(train_a) & set(test_a)
    assert sorted([*train_a, *test_a]) == list(range(100))
    assert not np.array_equal(test_a, split_trials(100, seed=4)[1])
    with pytest.raises(UsageError, match="trials"):
        split_trials(3, seed=0)


# --------------------------------------------------------------------------- recording

def test_counts_before_each_pull():
    actions = np.array([[0, 1, 0, 0]])
    rewards = np.array([[1, 0, 1, 0]])
    s, f = counts_before_each_pull(actions, rewards, arms=2)
    assert s[0].tolist() == [[0, 0], [1, 0], [1, 0], [2, 0]]
    assert f[0].tolist() == [[0, 0], [0, 0], [0, 1], [0, 1]]


def test_replayed_states_are_the_rollouts_states(bandit_run):
    agent = RL2Agent(bandit_run.model)
    trace = record_bandit_trials([agent], 3, 5, trials=40, seed=9)["rl2"]
    assert trace.hidden.shape == (40, 5, 8) and trace.logits.shape == (40, 5, 3)
    # step the same agent through the same trials by hand and keep its hidden states
    evaluation = evaluate_bandit(3, 5, [agent], 40, seed=9, keep_records=True)
    assert np.array_equal(evaluation.results["rl2"].records[0].actions, trace.actions)
    env_seed = int(np.random.SeedSequence([9, 0]).generate_state(1)[0])     # the evaluator's chunk 0
    stepper = TrialStepper(make_bandit_trials(3, 5, 40), agent, seed=env_seed,
                           policy_seed=agent_seed(9, 0, "rl2"))
    states = []
    while not stepper.done:
        stepper.step()
        states.append(stepper.policy_state.hidden.numpy())
    assert np.allclose(np.stack(states, axis=1), trace.hidden, atol=1e-6)
    assert np.array_equal(stepper.record().actions, trace.actions)


def test_random_control_network_is_seeded_and_untrained(bandit_run):
    model = bandit_run.model
    a, b = random_network_like(model, 1), random_network_like(model, 1)
    c = random_network_like(model, 2)
    state = torch.random.get_rng_state()
    random_network_like(model, 3)
    assert torch.equal(state, torch.random.get_rng_state())               # global RNG untouched
    for (name, pa), pb, pc, pm in zip(a.named_parameters(), b.parameters(), c.parameters(),
                                      model.parameters()):
        assert torch.equal(pa, pb), name
        if pa.dim() > 1:
            assert not torch.equal(pa, pc) and not torch.equal(pa, pm), name


# --------------------------------------------------------------------------- probes

def test_probes_are_deterministic_per_seed(bandit_run):
    a = probe_bandit_agent(3, 5, trials=200, seed=4, checkpoint=bandit_run.checkpoint_path)
    b = probe_bandit_agent(3, 5, trials=200, seed=4, checkpoint=bandit_run.checkpoint_path)
    c = probe_bandit_agent(3, 5, trials=200, seed=5, checkpoint=bandit_run.checkpoint_path)
    assert a.to_json() == b.to_json() != c.to_json()
    out = a.to_json()
    assert out["action_target"] == "bayes-optimal" and out["test_trials"] == 50
    assert set(out["trained"]["r2"]) == {"posterior_mean", "pulls", "step"}
    assert len(out["trained"]["r2_per_column"]["posterior_mean"]) == 3
    # the step is a simple function of the inputs' history: any GRU state carries some of it
    assert a.trained.r2["step"] > 0.5 and 0 < a.chance_accuracy < 1
    json.dumps(out)
    assert "random GRU" in a.table()


def test_probe_refuses_bad_input(bandit_run):
    with pytest.raises(UsageError, match="alpha"):
        probe_bandit_agent(3, 5, 100, 0, checkpoint=bandit_run.checkpoint_path, alpha=-1)
    with pytest.raises(UsageError, match="trained on bandit k=3, n=5"):
        probe_bandit_agent(4, 5, 100, 0, checkpoint=bandit_run.checkpoint_path)


# --------------------------------------------------------------------------- behaviour

def test_bayes_optimal_q_values_agree_with_the_solution():
    solution = solve_bayes_optimal(3, 6)
    zeros = np.zeros((1, 3), dtype=int)
    assert np.allclose(solution.q_values(zeros, zeros), solution.value)
    s = np.array([[1, 0, 0], [2, 0, 1], [0, 0, 0]])
    f = np.array([[0, 1, 0], [0, 2, 0], [5, 0, 0]])
    q, v = solution.q_values(s, f), solution.state_values(s, f)
    assert np.allclose(q.max(axis=1), v)
    assert np.all(solution.state_values(np.array([[6, 0, 0]]), np.zeros((1, 3), int)) == 0)  # n pulls: over


def test_behaviour_judges_the_bayes_optimal_agent_perfect_and_sums_to_the_gap(bandit_run):
    report = compare_with_bayes_optimal(["bayes-optimal", "random", "rl2", "rl2-greedy"], 3, 5,
                                        trials=3000, seed=1, checkpoint=bandit_run.checkpoint_path)
    best, rand = report.agents["bayes-optimal"], report.agents["random"]
    assert best.pulled_optimal.all() and np.allclose(best.regret, 0)
    assert best.greedy_optimal is None and report.agents["rl2"].greedy_optimal is not None
    # performance difference: V* − E[regret] is the expected return; the sampled mean agrees
    s = rand.summary()
    assert abs(report.value - s["regret"] - s["mean"]) < 4 * rand.returns.std() / np.sqrt(3000)
    assert np.all(rand.regret >= -1e-9)
    again = compare_with_bayes_optimal(["random", "rl2"], 3, 5, trials=3000, seed=1,
                                       checkpoint=bandit_run.checkpoint_path)
    assert again.agents["random"].summary() == s                   # same seed, same numbers
    assert "rl2-greedy" in report.table()
    with pytest.raises(UsageError, match="states"):
        compare_with_bayes_optimal(["random"], 5, 100, trials=10, seed=0)


# --------------------------------------------------------------------------- OOD

def test_bandit_prior_option_keeps_the_default_draws_and_samples_beta():
    default, explicit = BernoulliBandits(500, 4), BernoulliBandits(500, 4, prior=(1, 1))
    default.reset(seed=5)
    explicit.reset(seed=5)
    assert np.array_equal(default.arm_means, np.random.default_rng(5).random((500, 4)))
    assert np.array_equal(default.arm_means, explicit.arm_means)
    beta = BernoulliBandits(20_000, 2, prior=(2, 5))
    beta.reset(seed=0)
    assert abs(beta.arm_means.mean() - 2 / 7) < 0.005
    fixed = BernoulliBandits(10, 3, prior=lambda rng, shape: np.full(shape, 0.25))
    fixed.reset(seed=0)
    assert np.all(fixed.arm_means == 0.25)
    with pytest.raises(ValueError, match="positive"):
        BernoulliBandits(2, 2, prior=(0, 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BernoulliBandits(2, 2, prior=lambda rng, shape: np.full(shape, 2.0)).reset(seed=0)


def test_bandit_ood_is_deterministic_and_its_training_row_is_the_evaluators(bandit_run, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "assets"))
    # a "pretrained" agent for n=10 makes the retrained reference appear in the n=10 row
    run10 = train(TrainConfig.for_bandit(3, 10, updates=1, **TINY), tmp_path / "run10", progress=False)
    export_checkpoint(run10.checkpoint_path, tmp_path / "assets" / "checkpoints" / "bandit-k3-n10.pt")
    conditions = bandit_conditions(5, lengths=[5, 10], priors=[(0.5, 0.5)])
    kwargs = dict(trials=300, seed=2, checkpoint=bandit_run.checkpoint_path,
                  agents=["ucb1", "thompson", "random"])
    a, b = bandit_ood(3, 5, conditions, **kwargs), bandit_ood(3, 5, conditions, **kwargs)
    assert a.to_json() == b.to_json()
    assert [r.in_distribution for r in a.rows] == [True, False, False]
    assert "rl2-retrained" in a.rows[1].evaluation.results
    assert "rl2-retrained" not in a.rows[0].evaluation.results | a.rows[2].evaluation.results
    assert a.agents()[:2] == ["rl2", "rl2-retrained"]
    reference = evaluate_bandit(3, 5, ["rl2", "ucb1"], 300, seed=2,
                                checkpoint=bandit_run.checkpoint_path)
    for name in ("rl2", "ucb1"):
        assert np.array_equal(a.rows[0].evaluation.results[name].returns,
                              reference.results[name].returns)
    gap = a.rows[0].to_json()["rl2_minus_best_baseline"]
    assert gap["baseline"] in ("ucb1", "thompson")
    assert "(training)" in a.table() and json.dumps(a.to_json())


def test_an_agent_trained_on_another_prior_has_that_row_marked_as_its_training(tmp_path):
    run = train(TrainConfig.for_bandit(3, 5, updates=1, prior="1:3", **TINY), tmp_path / "run",
                progress=False)
    report = bandit_ood(3, 5, bandit_conditions(5, lengths=[5], priors=[(1, 3)]), trials=20,
                        seed=0, checkpoint=run.checkpoint_path, agents=["random"])
    assert [r.in_distribution for r in report.rows] == [False, True]
    assert report.trained["prior"] == "1:3"


def test_bandit_ood_refuses_what_the_network_cannot_play(bandit_run):
    with pytest.raises(UsageError, match="k=3"):                  # more arms than the network has
        bandit_ood(5, 5, [BanditCondition(5)], trials=10, seed=0, checkpoint=bandit_run.checkpoint_path)
    with pytest.raises(UsageError, match="prior"):
        bandit_ood(3, 5, [BanditCondition(5, (0.0, 1.0))], trials=10, seed=0,
                   checkpoint=bandit_run.checkpoint_path)
    with pytest.raises(UsageError, match="lengths"):
        bandit_ood(3, 5, [BanditCondition(0)], trials=10, seed=0, checkpoint=bandit_run.checkpoint_path)


def test_mdp_ood_runs_any_mdp_checkpoint_at_other_lengths(mdp_run):
    conditions = mdp_conditions(2, horizons=[10, 4], lengths=[3])
    assert [(c.episodes, c.horizon) for c in conditions] == [(2, 10), (2, 4), (3, 10)]
    a = mdp_ood(2, conditions, trials=30, seed=1, checkpoint=mdp_run.checkpoint_path,
                agents=["random", "greedy"])
    b = mdp_ood(2, conditions, trials=30, seed=1, checkpoint=mdp_run.checkpoint_path,
                agents=["random", "greedy"])
    assert a.to_json() == b.to_json()
    assert [r.in_distribution for r in a.rows] == [True, False, False]
    assert a.rows[1].evaluation.setting == {"episodes": 2, "horizon": 4}
    assert a.to_json()["trained"]["episodes"] == 2
    with pytest.raises(UsageError, match="trained on mdp n=2"):     # the identity check stays
        mdp_ood(3, [MDPCondition(3)], trials=5, seed=0, checkpoint=mdp_run.checkpoint_path)
    with pytest.raises(UsageError, match="horizons"):
        mdp_ood(2, [MDPCondition(2, 0)], trials=5, seed=0, checkpoint=mdp_run.checkpoint_path)


# --------------------------------------------------------------------------- CLI

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl2_course", "analyse", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_cli_json_is_deterministic(bandit_run):
    args = ("probes", "--arms", "3", "--episodes", "5", "--trials", "60", "--seed", "3",
            "--checkpoint", bandit_run.checkpoint_path, "--json")
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert json.loads(first.stdout)["analysis"] == "probes"


@pytest.mark.parametrize("args, word", [
    (["probes", "--arms", "1", "--episodes", "5"], "arms"),
    (["probes", "--arms", "3", "--episodes", "5", "--trials", "2"], "trials"),
    (["behaviour", "--arms", "5", "--episodes", "100"], "states"),
    (["ood", "bandit", "--arms", "3", "--episodes", "5", "--priors", "x"], "priors"),
    (["ood", "bandit", "--arms", "3", "--episodes", "5", "--lengths", "0"], "lengths"),
    (["ood", "bandit", "--arms", "4", "--episodes", "5"], "k=3"),
    (["ood", "mdp", "--episodes", "0"], "episodes"),
    (["ood", "mdp", "--episodes", "7"], "no pretrained rl2 checkpoint"),
    (["nothing"], "invalid choice"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, word, bandit_run, capsys):
    """In-process (fast): `main` returns 2 for a UsageError, argparse exits 2 for a bad option."""
    from rl2_course.cli import main

    if "--arms" in args:
        args = [*args, "--checkpoint", str(bandit_run.checkpoint_path)]
    try:
        status = main(["analyse", *args])
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], err
