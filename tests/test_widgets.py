"""The bandit trial stepper widget: its state matches `run_trials` on the same task and seeds."""

import re

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, RL2Agent
from rl2_course.baselines import make_bandit_baseline
from rl2_course.envs import make_bandit_trials
from rl2_course.rollout import TrialStepper, run_trials
from rl2_course.widgets import ArmMeansError, BanditTrialStepper, parse_arm_means, show_bandit_trial

K, N = 4, 8


def fresh_rl2(arms=K, seed=0):
    torch.manual_seed(seed)
    return RL2Agent(RecurrentActorCritic(1, arms, hidden_size=16))


def stepper(policy, seed=3, **kwargs):
    kwargs.setdefault("auto_draw", False)
    return BanditTrialStepper(policy, K, N, seed=seed, **kwargs)


def reference(policy, seed, arm_means=None):
    options = None if arm_means is None else {"arm_means": np.asarray(arm_means)}
    return run_trials(make_bandit_trials(K, N), policy, seed=seed, options=options)


@pytest.mark.parametrize("make_policy", [lambda: make_bandit_baseline("thompson", K, N),
                                         lambda: make_bandit_baseline("gittins", K, N),
                                         fresh_rl2], ids=["thompson", "gittins", "rl2"])
@pytest.mark.parametrize("arm_means", [None, [0.1, 0.9, 0.5, 0.5]])
def test_steps_reproduce_run_trials_on_the_same_task(make_policy, arm_means):
    policy = make_policy()
    ref = reference(policy, seed=11, arm_means=arm_means)
    w = stepper(policy, seed=11, arm_means=arm_means)
    if arm_means is not None:
        assert w.arm_means == arm_means
    assert (w.t, w.total_reward, w.last_action, w.done) == (0, 0.0, None, False)
    for t in range(N):
        assert w.step()
        assert w.t == t + 1
        assert w.last_action == ref.actions[0, t]
        assert w.last_reward == ref.rewards[0, t]
        assert w.total_reward == ref.rewards[0, :t + 1].sum()
        assert w.pulls == np.bincount(ref.actions[0, :t + 1], minlength=K).tolist()
        assert w.successes == np.bincount(ref.actions[0, :t + 1], weights=ref.rewards[0, :t + 1],
                                          minlength=K).astype(int).tolist()
        assert sum(w.pulls) == w.t
    assert w.done
    record = w.agent_stepper.record()
    assert np.array_equal(record.actions, ref.actions)
    assert np.array_equal(record.rewards, ref.rewards)


def test_comparison_agents_earn_their_run_trials_totals_on_the_same_task():
    policy = make_bandit_baseline("greedy", K, N)
    for means in (None, "0.3, 0.6, 0.2, 0.8"):
        w = stepper(policy, seed=5, arm_means=means)
        w.play_to_end()
        assert set(w.comparison_reward) == {"gittins", "bayes-optimal"} and not w.comparison_notes
        for name in ("gittins", "bayes-optimal"):
            total = reference(make_bandit_baseline(name, K, N), 5,
                              parse_arm_means(means, K)).total_reward[0]
            assert w.comparison_reward[name] == total
            assert w.comparison_curves[name][-1] == total
            assert len(w.comparison_curves[name]) == N + 1
        assert w.comparison_curves["agent"][-1] == w.total_reward


def test_comparison_that_cannot_be_built_is_a_note_not_an_error():
    w = BanditTrialStepper(make_bandit_baseline("greedy", 5, 100), 5, 100, seed=0,
                           compare=["bayes-optimal", "no-such-agent", "greedy",
                                    make_bandit_baseline("ucb1", 3, 100)], auto_draw=False)
    assert set(w.comparison_notes) == {"bayes-optimal", "no-such-agent", "ucb1"}
    assert "MAX_STATES" in w.comparison_notes["bayes-optimal"]
    assert w.comparison_reward == {}      # greedy is the agent itself: not compared twice
    w.step()
    assert w.t == 1


def test_reset_replays_the_same_trial_and_a_new_seed_gives_a_new_task():
    w = stepper(fresh_rl2(), seed=7)
    w.play_to_end()
    first = (w.agent_stepper.record().actions.copy(), w.total_reward, list(w.arm_means))
    assert w.reset()
    assert (w.t, w.total_reward, w.pulls, w.done, w.play.value) == (0, 0.0, [0] * K, False, 0)
    w.play_to_end()
    assert np.array_equal(w.agent_stepper.record().actions, first[0]) and w.total_reward == first[1]
    # a second widget with the same seed agrees too (the agent's dice come from the task seed)
    other = stepper(fresh_rl2(), seed=7)
    other.play_to_end()
    assert np.array_equal(other.agent_stepper.record().actions, first[0])
    assert w.reset(seed=8)
    assert w.seed == 8 and w.seed_input.value == 8 and w.arm_means != first[2]


@pytest.mark.parametrize("text, match", [
    ("0.2, zero, 0.3, 0.4", "'zero' is not a number"),
    ("0.2, 0.7", "needs 4 arm means; got 2"),
    ("0.2, 0.7, 0.1, 1.5", r"\[0, 1\]; got 1.5"),
    ("0.2, -0.1, 0.1, 0.5", "got -0.1"),
    ("0.2, nan, 0.1, 0.5", "got nan"),
])
def test_bad_arm_means_show_a_message_and_keep_the_trial(text, match):
    w = stepper(make_bandit_baseline("ucb1", K, N))
    w.step()
    before = (w.t, list(w.arm_means), list(w.pulls))
    w.means_input.value = text
    w.reset_button.click()                       # the button path: no exception may escape
    assert re.search(match, w.message)
    assert "⚠" in w.status.value
    assert (w.t, list(w.arm_means), list(w.pulls)) == before
    assert w.reset(arm_means=text) is False      # the method path: same, returns False
    w.means_input.value = "0.2 0.7 0.1 0.5"      # spaces work as separators; a fix clears it
    assert w.reset() and w.message == "" and w.arm_means == [0.2, 0.7, 0.1, 0.5]
    with pytest.raises(ArmMeansError, match=match):
        stepper(make_bandit_baseline("ucb1", K, N), arm_means=text)


def test_parse_arm_means():
    assert parse_arm_means("  ", 3) is None and parse_arm_means(None, 3) is None
    assert parse_arm_means("[0.1; 0.2, 1]", 3).tolist() == [0.1, 0.2, 1.0]
    assert parse_arm_means(np.array([0, 0.5]), 2).tolist() == [0.0, 0.5]


def test_blank_arm_means_draw_the_task_from_the_seed():
    w = stepper(make_bandit_baseline("ucb1", K, N), seed=2, arm_means="0.1, 0.2, 0.3, 0.4")
    assert w.reset(arm_means="")
    env = make_bandit_trials(K, N)
    env.reset(seed=2)
    assert w.arm_means == env.task_env.arm_means[0].tolist()


def test_step_after_the_trial_is_a_harmless_no_op():
    w = stepper(make_bandit_baseline("ucb1", K, N))
    w.play_to_end()
    state = (w.t, w.total_reward, list(w.pulls), w.last_action)
    assert w.step_button.disabled and w.play.disabled and w.done
    assert w.step() is False
    w.step_button.click()
    assert (w.t, w.total_reward, list(w.pulls), w.last_action) == state
    assert "trial over" in w.message


def test_probabilities_and_value_come_from_an_rl2_agent_and_are_na_for_baselines():
    base = stepper(make_bandit_baseline("gittins", K, N))
    base.step()
    assert base.action_probabilities is None and base.value is None

    agent = fresh_rl2()
    w = stepper(agent, seed=4)
    assert w.action_probabilities is None and w.value is None      # nothing chosen yet
    twin = TrialStepper(make_bandit_trials(K, N), agent, seed=4)
    for _ in range(3):
        w.step()
        twin.step()
        assert len(w.action_probabilities) == K
        assert np.isclose(sum(w.action_probabilities), 1.0, atol=1e-5)
        assert np.allclose(w.action_probabilities, twin.policy_state.probs[0])
        assert w.value == pytest.approx(float(twin.policy_state.value[0]))


def test_play_advances_to_its_value_and_stops_at_the_end():
    w = stepper(make_bandit_baseline("thompson", K, N))
    assert (w.play.min, w.play.max) == (0, N)
    w.play.value = 1
    assert w.t == 1
    w.play.value = 3                               # the front end may skip frames: catch up
    assert w.t == 3
    w.step()
    assert w.play.value == 4                       # a Step keeps Play in sync
    w.play.playing = True
    w.play.value = N
    assert w.done and w.t == N and not w.play.playing and w.play.disabled
    w.reset_button.click()
    assert w.t == 0 and w.play.value == 0 and not w.play.disabled and not w.step_button.disabled


def test_drawing_the_figure(tmp_path):
    w = BanditTrialStepper(fresh_rl2(), K, N, seed=1)          # auto_draw: renders on each step
    w.step()
    assert w.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "step 1 / 8" in w.counter.value
    assert w.save_png(tmp_path / "frame.png").stat().st_size > 10_000
    many = BanditTrialStepper(make_bandit_baseline("ucb1", 12, 5), 12, 5, seed=1, auto_draw=False)
    many.play_to_end()
    many.save_png(tmp_path / "many.png")                        # the k > 10 layout


def test_show_bandit_trial_by_name_or_policy():
    w = show_bandit_trial("ucb1", K, N, seed=2, auto_draw=False)
    assert isinstance(w, BanditTrialStepper) and w.policy.name == "ucb1"
    assert show_bandit_trial(fresh_rl2(), K, N, auto_draw=False).policy.name == "rl2"
    with pytest.raises(ValueError, match="checkpoint"):
        show_bandit_trial(fresh_rl2(), K, N, checkpoint="x.pt")


def test_a_policy_built_for_another_bandit_is_refused():
    with pytest.raises(ValueError, match="3 arms"):
        BanditTrialStepper(make_bandit_baseline("ucb1", 3, N), K, N)
    with pytest.raises(ValueError, match="5 arms"):
        BanditTrialStepper(fresh_rl2(arms=5), K, N)


def test_trial_stepper_refuses_to_step_past_the_end():
    st = TrialStepper(make_bandit_trials(K, 2), make_bandit_baseline("greedy", K, 2), seed=0)
    st.step()
    st.step()
    assert st.done and st.t == 2 and st.record().actions.shape == (1, 2)
    with pytest.raises(RuntimeError, match="reset"):
        st.step()


def test_bad_arm_means_or_seed_given_to_reset_as_values_are_messages_too():
    w = stepper(make_bandit_baseline("ucb1", K, N), seed=1)
    before = list(w.arm_means)
    assert w.reset(arm_means=[0.1, "x", 0.2, 0.3]) is False and "'x' is not a number" in w.message
    assert w.reset(arm_means=np.array([0.1, 0.2, 0.3])) is False and "got 3" in w.message
    w.means_input.value = ""
    assert w.reset(seed=-1) is False and "seed" in w.message
    assert w.arm_means == before and w.seed == 1
    assert w.reset(seed=1, arm_means=np.array([0.123456789, 0.2, 0.3, 0.4]))
    assert w.arm_means == [0.123456789, 0.2, 0.3, 0.4]     # the field keeps the exact values


def test_a_stepper_refuses_a_seed_outside_the_clis_range_when_it_is_built():
    from rl2_course.baselines import make_mdp_baseline
    from rl2_course.widgets import MDPTrialStepper

    for seed in (-1, 2 ** 32):
        with pytest.raises(ValueError, match=r"seed must be a whole number in \[0, 2\*\*32\)"):
            MDPTrialStepper(make_mdp_baseline("random", 2), 2, seed=seed, compare=())
