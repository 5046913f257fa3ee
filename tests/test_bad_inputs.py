"""Every bad input to the command line is answered in one line: exit status 2, no traceback,
and nothing written.

The battery runs `rl2_course.cli.main` in this process (a subprocess per case would spend a
second or two importing torch each time), against a memory limit pinned at 16 GB so that the
size cases mean the same on every machine. The sizes are refused from an estimate before
anything is allocated, so every case takes milliseconds; a case that started the work instead
would show as a slow test, a MemoryError or a file written.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rl2_course import limits
from rl2_course.cli import main

REPO = Path(__file__).resolve().parents[1]
#: what a command could write in the repository: tuned parameters, pretrained checkpoints and
#: tables, the learner's notebooks, the assignment zip
WATCHED = ["rl2_course/baselines", "assets", "notebooks", "dist", "results"]

TOO_MANY_ARMS = ["--arms", "1000000000", "--episodes", "10"]
BIG_SEED, NEGATIVE_SEED, WAY_TOO_BIG_SEED = str(2 ** 32), "-1", "1180591620717411303424"


def _bandit(*extra: str) -> list[str]:
    return ["evaluate", "bandit", "--arms", "3", "--episodes", "5", "--agents", "random",
            "--trials", "10", *extra]


def _train(*extra: str) -> list[str]:
    return ["train", "bandit", "--arms", "3", "--episodes", "5", "--updates", "1", *extra]


#: (case id, arguments, a word the one line must hold); {files}, {dir}, {blocked}, {checkpoint}
#: and {broken} stand for paths the fixture makes
CASES: list[tuple[str, list[str], str]] = [
    # unknown names
    ("unknown command", ["fly"], "fly"),
    ("unknown environment", ["evaluate", "chess", "--arms", "2"], "chess"),
    ("unknown bandit agent", _bandit("--agents", "random,wizard"), "wizard"),
    ("bandit agent on an MDP", ["evaluate", "mdp", "--episodes", "5", "--agents", "ucb1",
                                "--trials", "5"], "ucb1"),
    ("unknown maze size", ["evaluate", "maze", "--size", "huge", "--agents", "random"], "huge"),
    ("unknown table", ["reproduce", "table9"], "table9"),
    ("unknown setting", _train("--set", "wingspan=3", "--out", "{dir}/run"), "wingspan"),
    ("unknown OOD baseline", ["analyse", "ood", "bandit", "--arms", "5", "--episodes", "10",
                              "--agents", "wizard", "--trials", "10"], "wizard"),
    ("unknown analysis", ["analyse", "dreams"], "dreams"),
    # wrong types
    ("arms in words", ["evaluate", "bandit", "--arms", "two", "--episodes", "5",
                       "--agents", "random"], "arms"),
    ("fractional trials", _bandit("--trials", "1.5"), "trials"),
    ("seed in words", _bandit("--seed", "seven"), "seed"),
    ("setting of the wrong type", _train("--set", "hidden_size=big", "--out", "{dir}/run"),
     "hidden_size"),
    ("lengths with a word", ["analyse", "ood", "bandit", "--arms", "5", "--episodes", "10",
                             "--lengths", "10,a"], "integers"),
    ("prior without a colon", ["analyse", "ood", "bandit", "--arms", "5", "--episodes", "10",
                               "--priors", "2"], "A:B"),
    ("timeout in words", ["grade", "{files}/x.ipynb", "--timeout", "soon"], "number"),
    ("nan timeout", ["grade", "{files}/x.ipynb", "--timeout", "nan"], "finite"),
    ("nan minutes", _train("--minutes", "nan", "--out", "{dir}/run"), "finite"),
    # seeds outside [0, 2**32), at every entry point that takes one
    *[(f"{name} seed {seed}", [*args, "--seed", seed], "seed") for seed in
      (NEGATIVE_SEED, BIG_SEED, WAY_TOO_BIG_SEED) for name, args in [
          ("evaluate bandit", _bandit()),
          ("evaluate mdp", ["evaluate", "mdp", "--episodes", "5", "--agents", "random"]),
          ("evaluate maze", ["evaluate", "maze", "--size", "small", "--agents", "random"]),
          ("train bandit", _train("--out", "{dir}/run")),
          ("train mdp", ["train", "mdp", "--episodes", "5", "--updates", "1", "--out", "{dir}/run"]),
          ("tune bandit", ["tune", "bandit", "--arms", "3", "--episodes", "5", "--trials", "10"]),
          ("tune mdp", ["tune", "mdp", "--episodes", "5", "--trials", "10"]),
          ("reproduce", ["reproduce", "table1", "--quick", "--out", "{dir}/results"]),
          ("analyse probes", ["analyse", "probes", "--arms", "5", "--episodes", "10"]),
          ("analyse behaviour", ["analyse", "behaviour", "--arms", "5", "--episodes", "10"]),
          ("analyse ood", ["analyse", "ood", "bandit", "--arms", "5", "--episodes", "10"]),
          ("analyse memory", ["analyse", "memory", "mdp", "--episodes", "10"])]],
    # directories given as files, files given as directories
    ("a directory as the checkpoint", _bandit("--agents", "rl2", "--checkpoint", "{dir}"),
     "checkpoint.pt"),
    ("a directory to export", ["export", "{dir}", "{files}/out.pt"], "checkpoint.pt"),
    ("a directory to grade", ["grade", "{dir}"], "no notebook"),
    ("a directory to warm-start from", _train("--init-from", "{dir}", "--out", "{files}/run"),
     "--init-from"),
    ("a file as the solutions", ["notebooks", "--solutions", "{files}/x.ipynb", "--out",
                                 "{files}/nb"], "x.ipynb"),
    ("a broken notebook to grade", ["grade", "{broken}"], "not a readable notebook"),
    # outputs that cannot be written
    ("train under a file", _train("--out", "{blocked}/run"), "a-file"),
    ("reproduce under a file", ["reproduce", "table1", "--quick", "--out", "{blocked}/r"], "a-file"),
    ("export under a file", ["export", "{checkpoint}", "{blocked}/x.pt"], "a-file"),
    ("assignment under a file", ["assignment", "--out", "{blocked}/a.zip"], "a-file"),
    ("notebooks under a file", ["notebooks", "--out", "{blocked}/nb"], "a-file"),
    ("assignment to nowhere", ["assignment", "--out", ""], "--out"),
    ("assignment to the root", ["assignment", "--out", "/"], "--out"),
    ("export onto its source", ["export", "{checkpoint}", "{checkpoint}"], "overwrite"),
    # sizes that cannot fit (issue 29's list): refused from an estimate, in GB, before any work
    ("a billion arms", ["evaluate", "bandit", *TOO_MANY_ARMS, "--agents", "random",
                        "--trials", "10"], "GB"),
    ("a million arms for UCB1", ["evaluate", "bandit", "--arms", "1000000", "--episodes", "10",
                                 "--agents", "ucb1", "--trials", "1000"], "GB"),
    ("a 621 GiB Gittins table", ["evaluate", "bandit", "--arms", "50", "--episodes", "10000",
                                 "--agents", "gittins", "--trials", "10"], "GB"),
    ("a trillion trials", _bandit("--trials", "1000000000000"), "GB"),
    ("a billion pulls", ["evaluate", "bandit", "--arms", "3", "--episodes", "1000000000",
                         "--agents", "random"], "GB"),
    ("a trial longer than a rollout", ["evaluate", "bandit", "--arms", "3", "--episodes", "2000000",
                                       "--agents", "random", "--trials", "1"], "1,000,000 steps"),
    ("a billion MDP episodes", ["evaluate", "mdp", "--episodes", "1000000000", "--agents",
                                "random", "--trials", "10"], "GB"),
    ("a trillion maze trials", ["evaluate", "maze", "--size", "small", "--agents", "random",
                                "--trials", "1000000000000"], "GB"),
    ("training a billion pulls", ["train", "bandit", "--arms", "5", "--episodes", "1000000000",
                                  "--updates", "1", "--out", "{dir}/run"], "GB"),
    ("a million GRU units", _train("--set", "hidden_size=1000000", "--out", "{dir}/run"), "GB"),
    ("an attention context of a billion steps",
     _train("--set", "cell=attention", "--set", "context=1000000000", "--out", "{dir}/run"),
     "context of 1,000,000,000"),
    ("a trillion trials per update", _train("--set", "trials_per_update=1000000000000",
                                            "--out", "{dir}/run"), "GB"),
    ("tuning a billion arms", ["tune", "bandit", *TOO_MANY_ARMS, "--trials", "10", "--write"], "GB"),
    ("tuning a billion MDP episodes", ["tune", "mdp", "--episodes", "1000000000", "--trials", "10",
                                       "--write"], "GB"),
    ("OOD at a billion pulls", ["analyse", "ood", "bandit", "--arms", "5", "--episodes", "10",
                                "--lengths", "1000000000", "--trials", "10"], "GB"),
    ("OOD MDP horizon of a billion", ["analyse", "ood", "mdp", "--episodes", "10", "--horizons",
                                      "1000000000", "--trials", "10"], "GB"),
    ("probes on a trillion trials", ["analyse", "probes", "--arms", "5", "--episodes", "10",
                                     "--trials", "1000000000000"], "GB"),
    ("behaviour on a trillion trials", ["analyse", "behaviour", "--arms", "5", "--episodes", "10",
                                        "--trials", "1000000000000"], "GB"),
    ("memory on a trillion trials", ["analyse", "memory", "bandit", "--arms", "5", "--episodes",
                                     "10", "--trials", "1000000000000"], "GB"),
    ("a table of a trillion trials", ["reproduce", "table2", "--trials", "1000000000000",
                                      "--out", "{dir}/results"], "GB"),
]


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, Path]:
    """A work directory with an (empty) directory, a regular file that blocks paths under it,
    a broken notebook and a small valid checkpoint."""
    from rl2_course.agents import RecurrentActorCritic
    from rl2_course.agents.checkpoint import save_checkpoint
    from rl2_course.envs.bandit import task_spec

    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "files").mkdir()
    (root / "empty-dir").mkdir()
    (root / "files" / "a-file").write_text("in the way")
    (root / "files" / "x.ipynb").write_text("{not json")
    checkpoint = root / "files" / "checkpoint.pt"
    save_checkpoint(checkpoint, RecurrentActorCritic(1, 3, 8), {"seed": 0}, task_spec(3, 5))
    return {"root": root, "files": root / "files", "dir": root / "empty-dir",
            "blocked": root / "files" / "a-file", "broken": root / "files" / "x.ipynb",
            "checkpoint": checkpoint}


@pytest.fixture
def sixteen_gigabytes(monkeypatch):
    """The same memory limit on every machine: a size case means the same on a laptop and on a
    large CI runner (and none of them starts allocating on a machine that is larger still)."""
    monkeypatch.setattr(limits, "memory_limit",
                        lambda: limits.MemoryLimit(16 * 10 ** 9, "this test allows"))


def _snapshot(*roots: Path) -> dict[str, tuple[int, int]]:
    """(size, modification time) of every file and directory under ``roots``."""
    found = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for name in (*dirnames, *filenames):
                stat = os.stat(os.path.join(dirpath, name))
                found[os.path.join(dirpath, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.mark.parametrize("case, argv, word", CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, argv, word, paths, sixteen_gigabytes,
                                                         capsys, monkeypatch):
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in argv]
    word = word.format(**{k: str(v) for k, v in paths.items()})
    monkeypatch.chdir(paths["root"])           # relative default outputs land here, if anywhere
    watched = [paths["root"], *(REPO / w for w in WATCHED)]
    before = _snapshot(*watched)
    try:
        status = main(argv)
    except SystemExit as stop:                  # argparse's own refusals
        status = stop.code
    captured = capsys.readouterr()
    assert status == 2, (status, captured.err)
    assert "Traceback" not in captured.err, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert word in lines[0], (word, lines[0])
    assert captured.out == "", captured.out
    assert _snapshot(*watched) == before, "a refused command changed a file"


def test_the_issue_sizes_name_the_estimate_and_the_limit(paths, sixteen_gigabytes, capsys):
    """'needs about N GB ... more than the 16.0 GB ...': the user hears both numbers."""
    for argv in (["evaluate", "bandit", "--arms", "50", "--episodes", "10000", "--agents", "gittins",
                  "--trials", "10"],
                 ["train", "bandit", "--arms", "5", "--episodes", "10", "--updates", "1",
                  "--set", "hidden_size=1000000", "--out", str(paths["dir"] / "run")]):
        assert main(argv) == 2
        line = capsys.readouterr().err.strip()
        assert "needs about" in line and "more than the 16.0 GB this test allows" in line, line


def test_the_python_functions_refuse_with_the_same_words(tmp_path):
    """A notebook user gets a ValueError carrying the words the command line prints."""
    from rl2_course.analysis.probes import probe_bandit_agent
    from rl2_course.evaluate import evaluate_bandit
    from rl2_course.evaluate_mdp import evaluate_mdp
    from rl2_course.train import TrainConfig, train
    from rl2_course.tuning import tune_bandit

    calls = [lambda: evaluate_bandit(3, 5, ["random"], 10, -1),
             lambda: evaluate_mdp(5, ["random"], 10, 2 ** 32),
             lambda: tune_bandit(3, 5, 10, -5),
             lambda: probe_bandit_agent(5, 10, 100, 2 ** 40),
             lambda: train(TrainConfig.for_bandit(3, 5, seed=-1), tmp_path / "run", progress=False)]
    for call in calls:
        with pytest.raises(ValueError, match=r"seed must lie in \[0, 2\*\*32\)"):
            call()
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"needs about [\d,.e+]+ GB of memory, more than"):
        evaluate_bandit(50, 10_000, ["gittins"], 10, 0)


def test_the_memory_limit_is_a_positive_number_of_bytes_with_its_source():
    limit = limits.memory_limit()
    assert limit.bytes > 0 and limit.source
    assert limits.available_memory() == limit.bytes
