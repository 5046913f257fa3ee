"""The play-it-yourself bandit widget: clicks are pulls on the same bandit and luck as the agent,
and each decision's score is V* − Q*(a) of the exact Bayes-optimal programme."""

from functools import lru_cache

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, RL2Agent
from rl2_course.baselines import make_bandit_baseline
from rl2_course.baselines.bayes_optimal import bayes_optimal_value
from rl2_course.envs import make_bandit_trials
from rl2_course.rollout import run_trials
from rl2_course.widgets import ArmMeansError, PlayBanditWidget, score_decisions

K, N = 3, 6


def fresh_rl2(arms=K, seed=0):
    torch.manual_seed(seed)
    return RL2Agent(RecurrentActorCritic(1, arms, hidden_size=16))


def widget(agent=None, seed=4, **kwargs):
    kwargs.setdefault("auto_draw", False)
    return PlayBanditWidget(fresh_rl2() if agent is None else agent, K, N, seed=seed, **kwargs)


class Scripted:
    """A policy that pulls a fixed list of arms (to replay the learner's clicks with run_trials)."""

    name = "scripted"

    def __init__(self, arms):
        self.arms = list(arms)

    def initial_state(self, num_tasks, seed=None):
        return 0

    def act(self, x, t):
        return np.full(len(x), self.arms[t]), t + 1


@lru_cache(maxsize=None)
def brute_q(counts, remaining):
    """Q*(counts; a) by plain recursion over (S, F) per arm, Beta(1, 1) priors (independent of
    the package's programme)."""
    if remaining == 0:
        return tuple(0.0 for _ in counts)
    out = []
    for a, (s, f) in enumerate(counts):
        p = (s + 1) / (s + f + 2)
        win = list(counts); win[a] = (s + 1, f)
        lose = list(counts); lose[a] = (s, f + 1)
        out.append(p * (1 + max(brute_q(tuple(win), remaining - 1)))
                   + (1 - p) * max(brute_q(tuple(lose), remaining - 1)))
    return tuple(out)


def test_clicks_are_pulls_on_the_seeded_bandit_with_its_luck():
    clicks = [0, 2, 2, 1, 0, 2]
    w = widget(seed=9)
    assert (w.t, w.total_reward, w.pulls, w.done) == (0, 0.0, [0] * K, False)
    assert all(not b.disabled and b.description == f"arm {a}: 0/0" for a, b in enumerate(w.arm_buttons))
    ref = run_trials(make_bandit_trials(K, N), Scripted(clicks), seed=9)
    for t, arm in enumerate(clicks):
        w.arm_buttons[arm].click()                       # the button path
        assert w.t == t + 1 and w.total_reward == ref.rewards[0, :t + 1].sum()
        assert w.pulls == np.bincount(clicks[:t + 1], minlength=K).tolist()
    assert w.done and all(b.disabled for b in w.arm_buttons)
    you = w.scores["you"]
    assert [d.arm for d in you.decisions] == clicks
    assert [d.reward for d in you.decisions] == ref.rewards[0].tolist()
    env = make_bandit_trials(K, N)
    env.reset(seed=9)
    assert w.arm_means == env.task_env.arm_means[0].tolist()
    assert "trial over" in w.status.value and "arm means were" in w.status.value


def test_the_agent_plays_what_run_trials_plays_on_the_same_seed():
    agent = fresh_rl2()
    w = widget(agent, seed=21)
    ref = run_trials(make_bandit_trials(K, N), agent, seed=21)
    scored = w.scores[agent.name]
    assert [d.arm for d in scored.decisions] == ref.actions[0].tolist()
    assert scored.total_reward == ref.rewards[0].sum()
    bayes = run_trials(make_bandit_trials(K, N), make_bandit_baseline("bayes-optimal", K, N), seed=21)
    assert [d.arm for d in w.scores["bayes-optimal"].decisions] == bayes.actions[0].tolist()
    # same bandit for everyone, also when the arm means are typed in
    w.reset(arm_means="0.1, 0.9, 0.5")
    ref = run_trials(make_bandit_trials(K, N), agent, seed=21,
                     options={"arm_means": np.array([0.1, 0.9, 0.5])})
    assert [d.arm for d in w.scores[agent.name].decisions] == ref.actions[0].tolist()
    assert w.arm_means == [0.1, 0.9, 0.5]


def test_each_decision_is_scored_by_the_exact_q_values():
    w = widget(seed=2)
    w.play([1, 1, 0, 2, 1, 0])
    for score in w.scores.values():
        for d in score.decisions:
            q = brute_q(tuple(zip(d.successes, d.failures)), N - d.step + 1)
            assert np.allclose(d.q, q, atol=1e-12)
            assert d.value_lost == pytest.approx(max(q) - q[d.arm], abs=1e-9)
            assert d.optimal == (d.arm in d.best_arms) == (d.value_lost == 0.0)
        assert score.value_lost == pytest.approx(sum(d.value_lost for d in score.decisions))
    # the Bayes-optimal policy gives nothing up, ever
    assert w.scores["bayes-optimal"].value_lost == 0.0
    assert w.scores["bayes-optimal"].optimal_decisions == N
    assert w.bayes_optimal_value == pytest.approx(bayes_optimal_value(K, N))
    assert w.bayes_optimal_value == pytest.approx(max(brute_q(((0, 0),) * K, N)))


def test_a_bad_pull_loses_value_and_the_table_says_so():
    # arm 0 paid twice, arm 1 failed twice; pulling arm 1 again gives up expected reward
    score = score_decisions("x", [0, 0, 1, 1, 1], [1, 1, 0, 0, 0], 2, 5)
    last = score.decisions[-1]
    assert (last.successes, last.failures) == ((2, 0), (0, 2))
    assert last.best_arms == (0,) and not last.optimal
    assert last.value_lost == pytest.approx(3 / 4 - 1 / 4)      # the last pull: p̂ of each arm
    assert score.decisions[0].optimal        # the first pull: both arms are alike
    w = widget(seed=3)
    w.play([0] * N)
    table = w.score_table()
    assert table.count("<tr>") == N + 3 and "you" in table and "bayes-optimal" in table
    assert f"{w.scores['you'].value_lost:.3f}" in table


def test_pulls_after_the_end_or_of_a_missing_arm_change_nothing():
    w = widget()
    assert w.pull(K) is False and "no arm 3" in w.message
    assert w.pull(-1) is False and w.t == 0
    w.play([0] * (N + 3))                        # play stops at the end of the trial
    state = (w.t, w.total_reward, list(w.pulls))
    assert state[0] == N and w.done
    assert w.pull(0) is False and "trial over" in w.message
    w.arm_buttons[1].click()
    assert (w.t, w.total_reward, list(w.pulls)) == state


def test_new_trial_replays_the_same_bandit_and_luck_and_a_seed_changes_it():
    w = widget(seed=5)
    w.play([0, 1, 2, 0, 1, 2])
    first = ([d.reward for d in w.scores["you"].decisions], list(w.arm_means))
    w.reset_button.click()
    assert (w.t, w.done, w.pulls, w.message) == (0, False, [0] * K, "")
    w.play([0, 1, 2, 0, 1, 2])
    assert ([d.reward for d in w.scores["you"].decisions], list(w.arm_means)) == first
    assert w.reset(seed=6) and w.seed == 6 and w.arm_means != first[1]


def test_bad_input_is_a_message_and_impossible_settings_are_refused():
    w = widget(seed=1)
    w.pull(2)
    before = (w.t, list(w.arm_means))
    assert w.reset(arm_means="0.1, 2, 0.3") is False and "[0, 1]" in w.message
    assert w.reset(arm_means="", seed=-1) is False and "seed" in w.message
    assert (w.t, list(w.arm_means)) == before and "⚠" in w.status.value
    with pytest.raises(ArmMeansError, match="needs 3 arm means"):
        widget(arm_means="0.5, 0.5")
    with pytest.raises(ValueError, match="MAX_STATES"):
        PlayBanditWidget(None, 5, 100)
    with pytest.raises(ValueError, match="k=5"):
        PlayBanditWidget(make_bandit_baseline("ucb1", 5, N), K, N)
    with pytest.raises(ValueError, match="seed"):
        PlayBanditWidget(None, K, N, seed=2 ** 32)


def test_without_an_agent_only_bayes_optimal_is_beside_you_and_the_figure_draws(tmp_path):
    w = PlayBanditWidget(None, K, N, seed=0)              # auto_draw: draws when the trial ends
    assert list(w.scores) == ["you", "bayes-optimal"] and w.image.value == b""
    w.play([2] * N)
    assert w.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert w.save_png(tmp_path / "score.png").stat().st_size > 10_000


def test_the_pretrained_agent_by_name():
    w = PlayBanditWidget("rl2", 5, 10, seed=0, auto_draw=False)
    assert list(w.scores) == ["you", "rl2", "bayes-optimal"]
    assert len(w.scores["rl2"].decisions) == 10
