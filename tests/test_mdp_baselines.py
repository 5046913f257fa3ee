"""Table 2 baselines on random tabular MDPs: posteriors, UCRL2's optimism, the registry, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rl2_course.baselines import (MDP_AGENTS, BEBPolicy, MDPEpsilonGreedyPolicy, MDPGreedyPolicy,
                                  OPSRLPolicy, PSRLPolicy, UCRL2Policy, make_mdp_baseline)
from rl2_course.baselines.mdps import (extended_value_iteration, optimistic_transitions,
                                       sample_mdps)
from rl2_course.baselines.tuned import MDP_DEFAULTS, tuned_mdp_parameters
from rl2_course.cli import main
from rl2_course.envs import encode_trial_input, finite_horizon_q, make_mdp_trials
from rl2_course.errors import UsageError
from rl2_course.evaluate_mdp import evaluate_mdp
from rl2_course.policy import Policy

T = 10


def test_statistics_are_rebuilt_from_the_trial_inputs():
    n, B, S, A = 3, 40, 10, 5
    env = make_mdp_trials(n, num_tasks=B)
    policy = PSRLPolicy(n)
    x, _ = env.reset(seed=4)
    belief = policy.initial_state(B, seed=0)
    counts, visits, sums = np.zeros((B, S, A, S)), np.zeros((B, S, A)), np.zeros((B, S, A))
    rows = np.arange(B)
    for step in range(n * T):
        s = env.task_env.state.copy()
        action, belief = policy.act(x, belief)
        x, reward, *_ = env.step(action)
        visits[rows, s, action] += 1
        sums[rows, s, action] += reward
        if step % T != T - 1:     # the last step of an episode does not show where it led
            counts[rows, s, action, env.task_env.state] += 1
    policy.observe(x, belief)
    assert np.array_equal(belief.transition_counts, counts) and np.array_equal(belief.visits, visits)
    assert np.allclose(belief.reward_sums, sums, atol=1e-5)     # rewards travel as float32
    assert (belief.steps == n * T).all() and counts.sum() == B * n * (T - 1)


def hand_made_belief(policy, seed=0):
    """S = 3, A = 2: from s0, a1 paid 2.5 and led to s2; from s2, a0 paid -1 and ended the episode."""
    belief = policy.initial_state(1, seed=seed)
    x = lambda s, a, r, d: encode_trial_input(np.eye(3)[[s]], np.array([a]), np.array([r]),
                                              np.array([d]), 2)
    assert policy.observe(x(0, -1, 0.0, 0.0), belief).all()          # trial start: plan
    assert not policy.observe(x(2, 1, 2.5, 0.0), belief).any()
    assert policy.observe(x(0, 0, -1.0, 1.0), belief).all()          # the episode ended
    return belief


def test_dirichlet_counts_and_normal_reward_posterior_by_hand():
    belief = hand_made_belief(MDPGreedyPolicy(5, states=3, actions=2, horizon=2))
    assert belief.transition_counts[0, 0, 1].tolist() == [0, 0, 1]
    assert belief.transition_counts[0, 2, 0].sum() == 0           # last step: next state unseen
    assert belief.visits[0].tolist() == [[0, 1], [0, 0], [1, 0]]
    # Dirichlet(1) prior: mean (1 + N) / (S + ΣN)
    assert np.allclose(belief.transition_mean[0, 0, 1], [1 / 4, 1 / 4, 2 / 4])
    assert np.allclose(belief.transition_mean[0, 2, 0], [1 / 3] * 3)
    # N(1, 1) prior, unit noise: precision 1 + n, mean (1 + Σr) / (1 + n)
    assert np.allclose(belief.reward_precision[0], [[1, 2], [1, 1], [2, 1]])
    assert np.allclose(belief.reward_mean[0], [[1, 3.5 / 2], [1, 1], [0.0, 1]])


def test_posterior_samples_have_the_posterior_moments():
    policy = PSRLPolicy(5, states=3, actions=2, horizon=2)
    belief = policy.initial_state(20_000, seed=1)
    belief.transition_counts[:, 0, 1] = [2, 0, 1]
    belief.visits[:, 0, 1], belief.reward_sums[:, 0, 1] = 2, 3.0
    p, mu = sample_mdps(belief, slice(None))
    assert np.allclose(p.sum(-1), 1.0)
    # Dirichlet(3, 1, 2): mean (3, 1, 2) / 6; Normal posterior: mean 4/3, variance 1/3
    assert np.allclose(p[:, 0, 1].mean(0), [3 / 6, 1 / 6, 2 / 6], atol=0.01)
    assert abs(mu[:, 0, 1].mean() - 4 / 3) < 0.02 and abs(mu[:, 0, 1].var() - 1 / 3) < 0.02
    assert abs(mu[:, 1, 0].mean() - 1.0) < 0.03 and abs(mu[:, 1, 0].var() - 1.0) < 0.05


def test_ucrl2_confidence_set_by_hand():
    policy = UCRL2Policy(5, states=2, actions=2, horizon=2, c=0.5, delta=0.1)
    belief = policy.initial_state(1, seed=0)
    belief.transition_counts[0, 0, 0] = [3, 1]
    belief.visits[0, 0, 0], belief.reward_sums[0, 0, 0] = 5, 4.0
    belief.steps[0] = 5
    r_upper, width_r, p_hat, width_p = policy.confidence_set(belief, slice(None))
    S, A, t, delta = 2, 2, 5, 0.1
    assert np.isclose(width_r[0, 0, 0], 0.5 * np.sqrt(7 * np.log(2 * S * A * t / delta) / (2 * 5)))
    assert np.isclose(width_p[0, 0, 0], 0.5 * np.sqrt(14 * S * np.log(2 * A * t / delta) / 4))
    assert np.isclose(r_upper[0, 0, 0], 4 / 5 + width_r[0, 0, 0])
    assert np.allclose(p_hat[0, 0, 0], [0.75, 0.25])
    # never tried: empirical mean 0 with the one-sample width, transitions uniform
    assert np.isclose(r_upper[0, 1, 1], 0.5 * np.sqrt(7 * np.log(2 * S * A * t / delta) / 2))
    assert np.allclose(p_hat[0, 1, 1], [0.5, 0.5])


def test_optimistic_transitions_move_mass_to_the_best_state_from_the_worst():
    p_hat = np.array([0.5, 0.3, 0.2]).reshape(1, 1, 1, 3)
    v = np.array([[0.0, 10.0, 5.0]])
    opt = lambda w: optimistic_transitions(p_hat, np.full((1, 1, 1), w), v)[0, 0, 0]
    assert np.allclose(opt(0.0), [0.5, 0.3, 0.2])
    assert np.allclose(opt(0.4), [0.3, 0.5, 0.2])        # +0.2 on s1, taken from s0 (V = 0)
    assert np.allclose(opt(1.2), [0.0, 0.9, 0.1])        # s0 emptied, then s2 gives 0.1
    assert np.allclose(opt(5.0), [0.0, 1.0, 0.0])


def test_extended_value_iteration_on_a_tiny_mdp():
    # the tiny MDP of test_mdp_env: s0: a0 stays (r=1), a1 -> s1 (r=0); s1: a0 stays (r=3),
    # a1 -> s0 or s1 (1/2 each, r=2). With L1 radius 0.5 and two steps: V_1 = (1, 3) and
    # Q_0(s0,a0) = 1 + .75·1 + .25·3 = 2.5, Q_0(s0,a1) = 0 + 3, Q_0(s1,a0) = 3 + 3,
    # Q_0(s1,a1) = 2 + .25·1 + .75·3 = 4.5.
    p = np.zeros((1, 2, 2, 2))
    p[0, 0, 0, 0] = p[0, 0, 1, 1] = p[0, 1, 0, 1] = 1.0
    p[0, 1, 1] = [0.5, 0.5]
    r = np.array([[[1.0, 0.0], [3.0, 2.0]]])
    q = extended_value_iteration(p, np.full((1, 2, 2), 0.5), r, horizon=2)
    assert np.allclose(q[1], r) and np.allclose(q[0, 0], [[2.5, 3.0], [6.0, 4.5]])
    # radius 0: plain value iteration on p̂
    assert np.allclose(extended_value_iteration(p, np.zeros((1, 2, 2)), r, 2), finite_horizon_q(p, r, 2))


def test_plans_of_greedy_beb_psrl_and_opsrl():
    greedy = MDPGreedyPolicy(5, states=3, actions=2, horizon=3)
    belief = hand_made_belief(greedy)
    plan = greedy.plan(belief, slice(None))
    assert np.allclose(plan, finite_horizon_q(belief.transition_mean, belief.reward_mean, 3))
    beb = BEBPolicy(5, states=3, actions=2, horizon=3, beta=2.0)
    bonus = 2.0 / (1.0 + belief.visits)
    assert np.allclose(beb.plan(belief, slice(None)),
                       finite_horizon_q(belief.transition_mean, belief.reward_mean + bonus, 3))
    assert np.allclose(BEBPolicy(5, 3, 2, 3, beta=0.0).plan(belief, slice(None)), plan)
    # OPSRL with one sample is PSRL; with more it takes the max, so never below the first sample
    psrl_plan = PSRLPolicy(5, 3, 2, 3).plan(hand_made_belief(greedy, seed=3), slice(None))
    one = OPSRLPolicy(5, 3, 2, 3, samples=1).plan(hand_made_belief(greedy, seed=3), slice(None))
    many = OPSRLPolicy(5, 3, 2, 3, samples=8).plan(hand_made_belief(greedy, seed=3), slice(None))
    assert np.array_equal(one, psrl_plan) and np.all(many >= psrl_plan) and np.any(many > psrl_plan)


def test_ties_are_broken_at_random_and_epsilon_explores():
    B = 5000
    x = encode_trial_input(np.eye(10)[np.zeros(B, int)], np.full(B, -1), np.zeros(B), np.zeros(B), 5)
    for policy in (MDPGreedyPolicy(3), MDPEpsilonGreedyPolicy(3, epsilon=0.0)):
        first, _ = policy.act(x, policy.initial_state(B, seed=0))   # the prior: every action ties
        assert np.allclose(np.bincount(first, minlength=5) / B, 0.2, atol=0.03)
    greedy = MDPGreedyPolicy(3)
    belief = greedy.initial_state(B, seed=0)
    belief.reward_sums[:, 0, 2] = 5.0
    belief.visits[:, 0, 2] = 1.0
    assert (greedy.act(x, belief)[0] == 2).all()
    eps = MDPEpsilonGreedyPolicy(3, epsilon=0.5)
    belief = eps.initial_state(B, seed=1)
    belief.reward_sums[:, 0, 2], belief.visits[:, 0, 2] = 5.0, 1.0
    picks = eps.act(x, belief)[0]
    assert abs((picks == 2).mean() - 0.6) < 0.03                    # 1/2 greedy + 1/2 · 1/5
    with pytest.raises(ValueError, match="epsilon"):
        MDPEpsilonGreedyPolicy(3, epsilon=-0.1)


def test_every_baseline_beats_random_at_n_10():
    out = evaluate_mdp(10, list(MDP_AGENTS), 300, seed=5)
    random = out.results["random"].returns
    assert abs(random.mean() - 100) < 4 * out.results["random"].stderr
    for name in MDP_AGENTS:
        if name == "random":
            continue
        diff = out.results[name].returns - random      # paired: the same 300 MDPs and luck
        assert diff.mean() > 3 * diff.std(ddof=1) / np.sqrt(diff.size), name
    # common random numbers: an agent's numbers do not depend on the others in the list
    alone = evaluate_mdp(10, ["psrl"], 300, seed=5).results["psrl"].returns
    assert np.array_equal(alone, out.results["psrl"].returns)


def test_registry_names_tuned_values_and_overrides():
    for name, cls in MDP_AGENTS.items():
        policy = make_mdp_baseline(name, 10)
        assert isinstance(policy, cls) and isinstance(policy, Policy) and policy.name == name
    assert make_mdp_baseline("beb", 10, beta=0.7).beta == 0.7
    assert make_mdp_baseline("opsrl", 10).samples == tuned_mdp_parameters("opsrl", 10)["samples"]
    assert tuned_mdp_parameters("ucrl2", 12345) == MDP_DEFAULTS["ucrl2"]
    assert tuned_mdp_parameters("psrl", 10) == {}
    with pytest.raises(UsageError, match="unknown MDP agent 'softmax'"):
        make_mdp_baseline("softmax", 10)
    with pytest.raises(ValueError, match="samples"):
        OPSRLPolicy(10, samples=0)
    with pytest.raises(ValueError, match="delta"):
        UCRL2Policy(10, delta=1.0)
    greedy = make_mdp_baseline("greedy", 10)
    with pytest.raises(ValueError, match="inputs of width 17"):     # e.g. a bandit's inputs
        greedy.act(np.zeros((2, 7), dtype=np.float32), greedy.initial_state(2, seed=0))


def test_evaluate_mdp_cli_json():
    args = [sys.executable, "-m", "rl2_course", "evaluate", "mdp", "--episodes", "2", "--agents",
            "random,psrl,ucrl2", "--trials", "50", "--seed", "7", "--json"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"env", "episodes", "trials", "seed", "results"}
    assert (data["env"], data["episodes"], data["trials"], data["seed"]) == ("mdp", 2, 50, 7)
    assert list(data["results"]) == ["random", "psrl", "ucrl2"]
    assert all(set(v) == {"mean", "stderr"} and isinstance(v["mean"], float)
               for v in data["results"].values())


@pytest.mark.parametrize("args, word", [
    (["--episodes", "0", "--agents", "random"], "episodes"),
    (["--episodes", "5", "--agents", "random", "--trials", "0"], "trials"),
    (["--episodes", "5", "--agents", "random,wizard"], "wizard"),
    (["--episodes", "5", "--agents", "psrl,rl2"], "checkpoint"),
    (["--episodes", "five", "--agents", "random"], "episodes"),
])
def test_evaluate_mdp_bad_input_exits_2_with_one_line(args, word, capsys):
    try:
        code = main(["evaluate", "mdp", *args])
    except SystemExit as exit_:             # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err


def test_the_pretrained_rl2_mdp_agent_runs_from_the_cli():
    """The acceptance command of the MDP issue, on fewer trials: the shipped n=10 agent loads and
    plays; it earns more than random on the same MDPs (its Table 2 row is in assets/results)."""
    args = [sys.executable, "-m", "rl2_course", "evaluate", "mdp", "--episodes", "10", "--agents",
            "random,psrl,rl2", "--trials", "200", "--seed", "5", "--json"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout)["results"]
    assert list(results) == ["random", "psrl", "rl2"]
    difference = results["rl2"]["mean"] - results["random"]["mean"]
    assert difference > 3 * max(results["rl2"]["stderr"], results["random"]["stderr"])


def test_a_corrupt_or_foreign_mdp_checkpoint_is_one_line(tmp_path, capsys):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    bandit = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "bandit-k5-n10.pt"
    for path, word in [(corrupt, "corrupt.pt"), (bandit, "bandit")]:
        code = main(["evaluate", "mdp", "--episodes", "10", "--agents", "rl2",
                     "--checkpoint", str(path)])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and word in err, err
