"""`reproduce table1|2|3` and `export`: the release path of results and checkpoints."""

import json
import os

import numpy as np
import pytest
import torch

from rl2_course import paper
from rl2_course.agents import RL2Agent
from rl2_course.agents.checkpoint import export_checkpoint, read_checkpoint
from rl2_course.errors import UsageError
from rl2_course.evaluate import evaluate_bandit
from rl2_course.reproduce import (TABLE1_AGENTS, TABLE2_AGENTS, reproduce_table1, reproduce_table2,
                                  reproduce_table3, table1_json, table1_markdown, table2_json,
                                  table2_markdown, table3_json, table3_markdown, write_outputs)
from rl2_course.runs import grow_context
from rl2_course.train import TrainConfig, train


def test_a_table1_row_has_every_column_and_the_papers_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "no-assets"))   # no RL² checkpoint
    rows = reproduce_table1(trials=300, seed=4, settings=[(10, 5)])
    row = rows[0]
    assert set(row.evaluation.results) == set(TABLE1_AGENTS) - {"rl2", "rl2-attention"}
    assert "no pretrained rl2 checkpoint" in row.missing["rl2"]
    assert "--set cell=attention" in row.missing["rl2-attention"]
    text = table1_markdown(rows)
    assert "| n=10, k=5 | 300 |" in text and "(6.6)" in text and "— (6.7)" in text
    assert "RL² (GRU) | RL² (attention) | Bayes-optimal |" in text
    data = table1_json(rows, seed=4)
    assert data["rows"][0]["paper"] == paper.TABLE1[(10, 5)]
    # the best agent of the row is always bold
    best = max(row.evaluation.results, key=lambda a: row.evaluation.results[a].mean)
    assert best in row.not_worse()
    # same seed, same table
    again = reproduce_table1(trials=300, seed=4, settings=[(10, 5)])
    assert table1_markdown(again) == text


def test_a_table2_row_has_every_baseline_the_papers_numbers_and_rl2_from_a_checkpoint(
        monkeypatch, tmp_path):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "assets"))
    rows = reproduce_table2(trials=60, seed=2, settings=[2])
    assert set(rows[0].evaluation.results) == set(TABLE2_AGENTS) - {"rl2", "rl2-attention"}
    assert "no pretrained rl2 checkpoint for mdp n=2" in rows[0].missing["rl2"]
    assert "--set cell=attention" in rows[0].missing["rl2-attention"]
    # a pretrained MDP agent in the assets directory fills the RL² column
    train(TrainConfig.for_mdp(2, updates=1, trials_per_update=16, hidden_size=8), tmp_path / "run",
          progress=False)
    export_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "assets" / "checkpoints" / "mdp-n2.pt")
    rows = reproduce_table2(trials=60, seed=2, settings=[10, 2])
    assert set(rows[1].evaluation.results) == set(TABLE2_AGENTS) - {"rl2-attention"}
    assert list(rows[1].missing) == ["rl2-attention"]
    text = table2_markdown(rows)
    assert "| n=10 | 60 |" in text and "(138.1)" in text and "— (156.2)" in text
    assert "RL² (GRU) | RL² (attention) |" in text
    assert table2_json(rows, seed=2)["rows"][0]["paper"] == paper.TABLE2[10]
    assert table2_markdown(reproduce_table2(trials=60, seed=2, settings=[10, 2])) == text
    assert "†" not in text and table2_json(rows, seed=2)["rows"][1]["trained_episodes"] == {}
    # an agent made for longer trials without training there is marked with what it trained on
    grow_context(tmp_path / "run" / "checkpoint.pt", tmp_path / "assets" / "checkpoints" / "mdp-n3.pt", 3)
    grown = reproduce_table2(trials=20, seed=2, settings=[3])
    text = table2_markdown(grown)
    assert " †2" in text and "†N: trained on trials of N episodes only" in text
    assert table2_json(grown, seed=2)["rows"][0]["trained_episodes"] == {"rl2": 2}


def test_outputs_are_written_and_an_unusable_directory_is_refused(tmp_path):
    paths = write_outputs(tmp_path / "out", "table1", "| a |", {"x": 1})
    assert [p.name for p in paths] == ["table1.md", "table1.json"]
    assert json.loads(paths[1].read_text()) == {"x": 1}
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(UsageError, match="cannot create output directory"):
        write_outputs(blocker / "sub", "table1", "", {})


def test_exported_checkpoint_is_small_and_evaluates_identically(tmp_path):
    config = TrainConfig.for_bandit(3, 4, seed=1, updates=2, trials_per_update=16, hidden_size=8)
    train(config, tmp_path / "run", progress=False)
    full = tmp_path / "run" / "checkpoint.pt"
    small = export_checkpoint(full, tmp_path / "small.pt")
    assert small.stat().st_size < full.stat().st_size
    extra = read_checkpoint(small)["extra"]
    assert "optimizer" not in extra and "rng" not in extra and extra["update"] == 2
    torch.load(small, weights_only=True)
    a = evaluate_bandit(3, 4, ["rl2"], 200, seed=0, checkpoint=full).results["rl2"].returns
    b = evaluate_bandit(3, 4, ["rl2"], 200, seed=0, checkpoint=small).results["rl2"].returns
    assert np.array_equal(a, b)
    with pytest.raises(UsageError, match="cannot be resumed"):
        train(config.__class__(**{**config.__dict__, "updates": 3}), _with(small, tmp_path / "r2"),
              resume=True, progress=False)
    assert isinstance(RL2Agent.from_checkpoint(small, 3, 4), RL2Agent)


def _with(checkpoint, directory):
    directory.mkdir()
    (directory / "checkpoint.pt").write_bytes(checkpoint.read_bytes())
    return directory


# -- Table 3: the ViZDoom mazes ------------------------------------------------------------------

def test_table3_plays_both_start_protocols_the_papers_first_beside_its_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "no-assets"))    # no RL² checkpoint
    rows = reproduce_table3(trials=2, seed=3, settings=["paper-small", "small"])
    assert [(r.size, r.starts, r.trials) for r in rows] == [
        ("paper-small", "same", 2), ("paper-small", "random", 2), ("small", "same", 2),
        ("small", "random", 2)]
    for row in rows:
        assert [(e.agent, e.learned, e.metrics is None) for e in row.entries] == [
            ("random", None, False), ("rl2", "same", True), ("rl2", "random", True)]
        assert f"no maze-{row.size}-same.pt yet" in row.missing["same"]
        assert f"no maze-{row.size}.pt yet" in row.missing["random"]
    text = table3_markdown(rows)
    assert text.index("**Same starts (the paper's protocol)") < text.index("**Random starts")
    assert "| maze | agent | trained on | trials | length, episode 1 |" in text
    # the paper's RL² once, under its own protocol, beside the course's size that is the
    # paper's small maze (3 × 3 rooms), never beside the course's larger "small"
    assert text.count("| RL², paper |") == 1
    assert ("| paper-small | RL², paper | same starts | — | 52.4 ± 1.3 | 39.1 ± 0.9 | 99.3 % | "
            "99.6 % | 91.7 % |") in text
    assert "| small | RL² | same starts | — | — |" in text and "not ours" in text
    assert table3_markdown(reproduce_table3(trials=2, seed=3, settings=["paper-small", "small"])) == text


def test_reproduce_table3_quick_from_the_command_line_writes_strict_json(monkeypatch, tmp_path, capsys):
    from rl2_course import reproduce
    from rl2_course.cli import main
    from rl2_course.envs.maze import doom_processes

    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "no-assets"))
    monkeypatch.setattr(reproduce, "QUICK_TRIALS_MAZE", {"paper-small": 2, "paper-large": 1,
                                                         "small": 2, "large": 1})
    assert main(["reproduce", "table3", "--quick", "--seed", "2", "--out", str(tmp_path / "out")]) == 0
    assert "RL², paper" in capsys.readouterr().out
    assert (tmp_path / "out" / "table3.md").read_text().startswith("**Same starts")
    data = json.loads((tmp_path / "out" / "table3.json").read_text())
    json.dumps(data, allow_nan=False)                     # no NaN: nulls where nothing succeeded
    assert data["table"] == "table3" and data["seed"] == 2 and "wall_seconds" in data
    assert [(r["size"], r["starts"], r["cells"], r["trials"]) for r in data["rows"]] == [
        ("paper-small", "same", 3, 2), ("paper-small", "random", 3, 2),
        ("paper-large", "same", 5, 1), ("paper-large", "random", 5, 1),
        ("small", "same", 5, 2), ("small", "random", 5, 2), ("large", "same", 9, 1),
        ("large", "random", 9, 1)]
    for row in data["rows"]:
        random, *rl2 = row["results"]
        assert random["agent"] == "random" and random["trained_starts"] is None
        assert set(random["metrics"]) == {"length", "length_stderr", "success", "improved"}
        assert [(r["agent"], r["trained_starts"], r["metrics"]) for r in rl2] == [
            ("rl2", "same", None), ("rl2", "random", None)]
        assert set(row["missing"]) == {"same", "random"}
        if row["starts"] == "same" and row["size"].startswith("paper-"):
            published = paper.TABLE3[row["size"].removeprefix("paper-")]
            assert row["paper"]["rl2"]["success"] == list(published["success"])
        else:
            assert row["paper"] == {}     # the paper played same starts, and its own sizes only
    assert doom_processes(f"rl2-maze-{os.getpid()}-") == []


@pytest.mark.slow
def test_table3_fills_the_rl2_rows_from_pretrained_maze_checkpoints(monkeypatch, tmp_path):
    """An agent trained on the paper's protocol, as maze-small-same.pt, fills the rows of RL²
    trained on same starts under both protocols; a file under the other protocol's name that
    learned another protocol is reported, not played under a false label."""
    from rl2_course.evaluate_maze import make_maze_agent

    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "assets"))
    train(TrainConfig.for_maze("small", updates=1, trials_per_update=2, hidden_size=8, ppo_epochs=1,
                               minibatches=1, time_limit=3), tmp_path / "run", progress=False)
    checkpoints = tmp_path / "assets" / "checkpoints"
    export_checkpoint(tmp_path / "run" / "checkpoint.pt", checkpoints / "maze-small-same.pt")
    (checkpoints / "maze-small.pt").write_bytes((checkpoints / "maze-small-same.pt").read_bytes())
    # the default protocol's pretrained agent is now the one trained on it
    assert make_maze_agent("rl2", "small").source == checkpoints / "maze-small-same.pt"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # a busy 2-core machine makes 2 threads 20× slower here
    try:
        rows = reproduce_table3(trials=2, seed=1, settings=["small"])
    finally:
        torch.set_num_threads(threads)
    for row in rows:
        assert [(e.agent, e.learned) for e in row.entries if e.metrics is not None] == [
            ("random", None), ("rl2", "same"), ("rl2-forgetful", "same")]
        assert row.missing == {"random": "maze-small.pt was not trained with random starts"}
    assert table3_json(rows, seed=1)["rows"][0]["results"][1]["metrics"] is not None
    assert "| small | RL², memory wiped at episode 2 | same starts | 2 |" in table3_markdown(rows)


def test_table3_labels_an_agent_trained_with_privileged_aids_never_plain_rl2():
    """The course's rule: a teacher or privileged information gets its own label. The aids come
    from the checkpoint's config (old flat fields or the newer ``signals``)."""
    from rl2_course.reproduce import (MazeTableEntry, MazeTableRow, table3_rl2_agents,
                                      table3_training_aids)
    from rl2_course.signals import privileged_aids

    assert privileged_aids({"aux_coef": 0.5, "aux_task": "map", "teacher_coef": 0.0}) == (
        "map auxiliary task",)
    assert privileged_aids({"signals": {"shaping_coef": 0.1, "teacher_coef": 0.1}}) == (
        "reward shaping", "a teacher")
    assert privileged_aids({"signals": {}}) == () == privileged_aids({"aux_coef": None})
    aided = ("map auxiliary task",)
    row = MazeTableRow("small", "same", 2, [MazeTableEntry("rl2", "random", None, aided),
                                            MazeTableEntry("rl2-forgetful", "random", None, aided),
                                            MazeTableEntry("rl2", "same", None)])
    text = table3_markdown([row])
    assert "| small | RL² + privileged aids | random starts; map auxiliary task | — |" in text
    assert ("| small | RL² + privileged aids, memory wiped at episode 2 | random starts; map "
            "auxiliary task |") in text
    assert "| small | RL² | same starts |" in text and "not shown as plain RL²" in text
    assert "privileged aids\": an RL² agent" not in table3_markdown(
        [MazeTableRow("small", "same", 2, [MazeTableEntry("rl2", "same", None)])])
    # the shipped small agent learned with the map task (its lineage: docs/maze.md)
    assert table3_training_aids(table3_rl2_agents("small", "same", "random")) == aided
