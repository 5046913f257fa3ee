"""Table 3's metrics on hand-made trials, and the `evaluate maze` command's JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rl2_course.cli import main
from rl2_course.envs.maze import doom_processes
from rl2_course.evaluate_maze import MazeMetrics, episode_outcomes, evaluate_maze, make_maze_agent
from rl2_course.rollout import TrialRecord
from rl2_course.settings import maze_setting


def record(episodes: list[list[tuple[int, bool]]], steps: int = 12) -> TrialRecord:
    """Trials from (length, success) pairs: −0.01 per step, +1 on a successful last step."""
    rewards = np.full((len(episodes), steps), -0.01)
    done = np.zeros((len(episodes), steps), dtype=bool)
    for b, trial in enumerate(episodes):
        t = -1
        for length, success in trial:
            t += length
            done[b, t] = True
            rewards[b, t] += success
        rewards[b, t + 1:] = 0.0                  # padding after the trial's end
    return TrialRecord(np.zeros((len(episodes), steps), dtype=np.int64), rewards, done)


def test_episode_lengths_and_successes_are_read_from_the_done_flags_and_rewards():
    lengths, success = episode_outcomes(record([[(3, True), (2, True)], [(5, False), (6, True)]]))
    assert lengths.tolist() == [[3, 2], [5, 6]]
    assert success.tolist() == [[True, True], [False, True]]
    with pytest.raises(ValueError, match="1 finished"):
        episode_outcomes(record([[(3, True)]]))


def test_table3_metrics_on_hand_made_trials():
    trials = [[(4, True), (2, True)], [(6, True), (6, True)], [(8, False), (3, True)],
              [(5, True), (7, False)]]
    m = MazeMetrics.from_records([record(trials[:2]), record(trials[2:])])
    assert m.lengths.shape == (4, 2)
    assert m.mean_length == pytest.approx([5.0, 11 / 3])                # successful ones only
    assert m.length_stderr[0] == pytest.approx(np.std([4, 6, 5], ddof=1) / np.sqrt(3))
    assert m.success_rate == pytest.approx([0.75, 0.75])
    assert m.improved == pytest.approx(0.5)                             # 4→2 and 8→3; not 6→6
    out = m.to_json()
    assert set(out) == {"length", "length_stderr", "success", "improved"}


def test_no_success_gives_nan_lengths_not_an_error():
    m = MazeMetrics.from_records([record([[(5, False), (6, False)]])])
    assert np.isnan(m.mean_length).all() and m.success_rate == [0.0, 0.0]


def test_evaluate_maze_json_shape_from_the_command_line(capsys):
    assert main(["evaluate", "maze", "--size", "small", "--agents", "random", "--trials", "3",
                 "--seed", "11", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {k: out[k] for k in ("env", "size", "trials", "seed")} == {
        "env": "maze", "size": "small", "trials": 3, "seed": 11}
    assert out["walls"] == maze_setting("small").walls      # the small maze's own wall scheme
    assert out["starts"] == "same" and out["episodes"] == 2 and out["trained_starts"] == {}
    result = out["results"]["random"]
    assert set(result) == {"length", "length_stderr", "success", "improved"}
    assert len(result["length"]) == len(result["success"]) == len(result["length_stderr"]) == 2
    assert 0.0 <= result["improved"] <= 1.0


def test_the_same_seed_gives_the_same_numbers_and_no_doom_process_is_left():
    a = evaluate_maze("small", ["random"], 2, seed=5, chunk_trials=2).results["random"]
    b = evaluate_maze("small", ["random"], 2, seed=5, chunk_trials=2).results["random"]
    assert np.array_equal(a.lengths, b.lengths) and np.array_equal(a.success, b.success)
    assert doom_processes(f"rl2-maze-{os.getpid()}-") == []           # all closed


#: the shipped small agent, trained on district walls (read directly: the test hides assets/)
SHIPPED_SMALL = Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "maze-small.pt"


@pytest.mark.parametrize("args, words", [
    (["--size", "small", "--agents", "rl2"], "no pretrained rl2 checkpoint for maze small"),
    (["--size", "small", "--agents", "ucb1"], "unknown agent 'ucb1'"),
    (["--size", "small", "--agents", "random", "--trials", "0"], "--trials must be at least 1"),
    (["--size", "small", "--agents", "random", "--checkpoint", "x.pt"], "rl2 is not among"),
    (["--size", "small", "--agents", "rl2", "--walls", "uniform", "--checkpoint",
      str(SHIPPED_SMALL)], "districts walls, random starts, not small, n=2, uniform walls"),
    # the shipped agents learned random starts: under the default (the paper's "same") they
    # are refused, with what to do
    (["--size", "small", "--agents", "rl2", "--checkpoint", str(SHIPPED_SMALL)],
     "maze-small.pt was trained with random starts, not same: evaluate it with --starts random, "
     "or add --other-starts to play it on same starts anyway"),
    (["--size", "small", "--agents", "random", "--episodes-per-trial", "1"],
     "--episodes-per-trial must lie in [2, 10]"),
    (["--size", "small", "--agents", "random", "--episodes-per-trial", "11"],
     "--episodes-per-trial must lie in [2, 10]"),
])
def test_bad_requests_are_one_line_errors_with_status_2(args, words, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path))       # no pretrained maze agent here
    assert main(["evaluate", "maze", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1


# -- the pretrained agents in assets/ -------------------------------------------------------------

def test_the_pretrained_small_maze_agent_finds_more_targets_than_the_random_agent():
    """maze-small.pt is far below the paper (assets/checkpoints/README.md) but must stay well
    above chance: on 16 mazes of the protocol it learned (random starts) it reaches more
    targets than the random agent, in each episode."""
    evaluation = evaluate_maze("small", ["rl2", "random"], trials=16, seed=2, progress=False,
                               starts="random")
    rl2, random = (evaluation.results[name] for name in ("rl2", "random"))
    assert all(ours > theirs for ours, theirs in zip(rl2.success_rate, random.success_rate))


def test_the_pretrained_maze_agents_load_and_run_from_the_cli(capsys):
    # the large agent's trials are up to 3,000 decisions, too slow to play here: the test
    # loads it (its checkpoint must match the large maze); `reproduce table3` plays it
    assert make_maze_agent("rl2", "large", starts="random") is not None
    assert main(["evaluate", "maze", "--size", "small", "--agents", "rl2,rl2-forgetful", "--trials",
                 "2", "--seed", "0", "--start", "random", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["size"] == "small" and set(result["results"]) == {"rl2", "rl2-forgetful"}
    assert len(result["results"]["rl2"]["success"]) == 2
    assert result["starts"] == "random"
    assert result["trained_starts"] == {"rl2": "random", "rl2-forgetful": "random"}


@pytest.mark.parametrize("starts", ["same", "random"])
def test_the_forgetful_ablation_plays_episode_1_exactly_like_the_intact_agent(starts):
    """rl2-forgetful rolls rl2's dice on the same mazes, so episode 1 is the same decision for
    decision; only episode 2, where its memory is wiped, may differ. Under either protocol
    (the shipped agent learned random starts; same starts are asked for explicitly)."""
    evaluation = evaluate_maze("small", ["rl2", "rl2-forgetful"], trials=4, seed=3, progress=False,
                               starts=starts, other_starts=True)
    intact, forgetful = (evaluation.results[name] for name in ("rl2", "rl2-forgetful"))
    assert np.array_equal(intact.lengths[:, 0], forgetful.lengths[:, 0])
    assert np.array_equal(intact.success[:, 0], forgetful.success[:, 0])
    assert evaluation.starts == starts
    assert evaluation.trained_starts == {"rl2": "random", "rl2-forgetful": "random"}
    assert ("learned random starts and play same starts" in evaluation.table()) == (starts == "same")
    assert doom_processes(f"rl2-maze-{os.getpid()}-") == []


def test_five_episodes_per_trial_report_every_episode(capsys):
    """--episodes-per-trial 5: lengths and success of all five episodes (three more than the
    agents were trained on), "improved" still episode 2 against episode 1."""
    evaluation = evaluate_maze("small", ["rl2", "rl2-forgetful", "random"], trials=2, seed=4,
                               progress=False, starts="random", episodes_per_trial=5)
    for metrics in evaluation.results.values():
        assert metrics.lengths.shape == metrics.success.shape == (2, 5)
        assert metrics.improved == float((metrics.lengths[:, 1] < metrics.lengths[:, 0]).mean())
    text = evaluation.table()
    assert "length ep 5" in text and "success 5" in text
    assert "episodes 3-5 go beyond the 2 per trial" in text
    # the command line: the same option, every episode in the JSON
    assert main(["evaluate", "maze", "--size", "small", "--agents", "random", "--trials", "1",
                 "--seed", "4", "--episodes-per-trial", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["episodes"] == 5 and len(out["results"]["random"]["length"]) == 5
    assert len(out["results"]["random"]["success"]) == 5
    assert doom_processes(f"rl2-maze-{os.getpid()}-") == []
