import numpy as np
import pytest

from rl2_course.errors import UsageError
from rl2_course.evaluate import evaluate_bandit, expected_regret


def test_same_seed_same_numbers_and_agents_do_not_disturb_each_other():
    a = evaluate_bandit(3, 8, ["random", "thompson"], 500, seed=11)
    b = evaluate_bandit(3, 8, ["thompson"], 500, seed=11)
    assert a.results["thompson"].mean == b.results["thompson"].mean
    assert np.array_equal(a.results["thompson"].returns, b.results["thompson"].returns)
    c = evaluate_bandit(3, 8, ["thompson"], 500, seed=12)
    assert not np.array_equal(b.results["thompson"].returns, c.results["thompson"].returns)


def test_json_shape():
    out = evaluate_bandit(2, 5, ["random", "greedy"], 100, seed=1).to_json()
    assert out["env"] == "bandit" and out["arms"] == 2 and out["episodes"] == 5
    assert out["trials"] == 100 and out["seed"] == 1
    assert set(out["results"]) == {"random", "greedy"}
    assert all(set(v) == {"mean", "stderr"} for v in out["results"].values())


def test_chunks_give_the_same_tasks_to_every_agent(monkeypatch):
    import rl2_course.evaluate as ev
    monkeypatch.setattr(ev, "CHUNK_TRIALS", 64)
    out = evaluate_bandit(4, 6, ["greedy", "ucb1"], 200, seed=3, keep_records=True)
    assert out.arm_means.shape == (200, 4)
    assert sum(len(r.total_reward) for r in out.results["ucb1"].records) == 200
    # total reward can never exceed the number of pulls; the regret curve starts at >= 0 and grows
    regret = expected_regret(out, "greedy")
    assert regret.shape == (6,) and np.all(np.diff(regret) >= -1e-12) and regret[0] >= 0


def test_stderr_matches_the_sample_formula():
    out = evaluate_bandit(2, 10, ["random"], 400, seed=0).results["random"]
    assert np.isclose(out.stderr, out.returns.std(ddof=1) / np.sqrt(400))


@pytest.mark.parametrize("args, match", [
    ((1, 10, ["random"], 10), "arms"),
    ((3, 0, ["random"], 10), "episodes"),
    ((3, 10, ["random"], 0), "trials"),
    ((3, 10, ["nope"], 10), "unknown agent 'nope'"),
    ((3, 10, ["random", "random"], 10), "once"),
])
def test_bad_input_is_a_usage_error(args, match):
    with pytest.raises(UsageError, match=match):
        evaluate_bandit(*args, seed=0)


def test_policy_randomness_never_replays_the_task_randomness():
    # Same integer for both seeds: the tie-break at the first pull must not follow the true means.
    from rl2_course.baselines import GreedyPolicy
    from rl2_course.envs import make_bandit_trials
    from rl2_course.rollout import run_trials

    env = make_bandit_trials(5, 1, 20000)
    record = run_trials(env, GreedyPolicy(5, 1), seed=1, policy_seed=1)
    picked_best = record.actions[:, 0] == env.task_env.arm_means.argmax(1)
    assert abs(picked_best.mean() - 0.2) < 4 * np.sqrt(0.16 / 20000)
