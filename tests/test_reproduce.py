"""`reproduce table1` and `export`: the release path of results and checkpoints."""

import json

import numpy as np
import pytest
import torch

from rl2_course import paper
from rl2_course.agents import RL2Agent
from rl2_course.agents.checkpoint import export_checkpoint, read_checkpoint
from rl2_course.errors import UsageError
from rl2_course.evaluate import evaluate_bandit
from rl2_course.reproduce import (TABLE1_AGENTS, TABLE2_AGENTS, reproduce_table1, reproduce_table2,
                                  table1_json, table1_markdown, table2_json, table2_markdown,
                                  write_outputs)
from rl2_course.train import TrainConfig, train


def test_a_table1_row_has_every_column_and_the_papers_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "no-assets"))   # no RL² checkpoint
    rows = reproduce_table1(trials=300, seed=4, settings=[(10, 5)])
    row = rows[0]
    assert set(row.evaluation.results) == set(TABLE1_AGENTS) - {"rl2"}
    assert "no pretrained rl2 checkpoint" in row.missing["rl2"]
    text = table1_markdown(rows)
    assert "| n=10, k=5 | 300 |" in text and "(6.6)" in text and "— (6.7)" in text
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
    assert set(rows[0].evaluation.results) == set(TABLE2_AGENTS) - {"rl2"}
    assert "no pretrained rl2 checkpoint for mdp n=2" in rows[0].missing["rl2"]
    # a pretrained MDP agent in the assets directory fills the RL² column
    train(TrainConfig.for_mdp(2, updates=1, trials_per_update=16, hidden_size=8), tmp_path / "run",
          progress=False)
    export_checkpoint(tmp_path / "run" / "checkpoint.pt", tmp_path / "assets" / "checkpoints" / "mdp-n2.pt")
    rows = reproduce_table2(trials=60, seed=2, settings=[10, 2])
    assert set(rows[1].evaluation.results) == set(TABLE2_AGENTS) and rows[1].missing == {}
    text = table2_markdown(rows)
    assert "| n=10 | 60 |" in text and "(138.1)" in text and "— (156.2)" in text
    assert table2_json(rows, seed=2)["rows"][0]["paper"] == paper.TABLE2[10]
    assert table2_markdown(reproduce_table2(trials=60, seed=2, settings=[10, 2])) == text


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
