"""Reliability: every bad input is one line and exit 2; crashes never cost more than the last save.

These tests run the real command line in subprocesses (as a learner or a grader would) and
kill real training processes, so they check what unit tests of single functions cannot: that
no exception escapes as a traceback, and that an interrupted run can always go on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from rl2_course.agents import load_checkpoint
from rl2_course.agents.checkpoint import save_checkpoint
from rl2_course.envs.bandit import task_spec as bandit_env_spec
from rl2_course.errors import UsageError
from rl2_course.train import TrainConfig, read_log, train

TINY = dict(trials_per_update=16, hidden_size=8, ppo_epochs=2, minibatches=2, schedule_updates=6)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl2_course", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_exit_2(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A real checkpoint (k=3, n=5), broken copies of it, and a file in place of a directory."""
    root = tmp_path_factory.mktemp("reliability")
    good = train(TrainConfig.for_bandit(3, 5, updates=1, **TINY), root / "run", progress=False)
    data = good.checkpoint_path.read_bytes()
    paths = {"good": good.checkpoint_path, "run": root / "run"}
    for name, content in {"corrupt": os.urandom(len(data)), "truncated": data[: len(data) // 2],
                          "empty": b"", "text": b"hello, I am not a checkpoint\n"}.items():
        paths[name] = root / f"{name}.pt"
        paths[name].write_bytes(content)
    paths["a_file"] = root / "a-file"
    paths["a_file"].write_text("in the way")
    return paths


def evaluate(*extra: str):
    return cli("evaluate", "bandit", "--trials", "10", *extra)


SIZES = [
    (["--arms", "0", "--episodes", "5"], "arms"),
    (["--arms", "-2", "--episodes", "5"], "arms"),
    (["--arms", "1", "--episodes", "5"], "arms"),
    (["--arms", "3", "--episodes", "0"], "episodes"),
    (["--arms", "3", "--episodes", "-1"], "episodes"),
]


@pytest.mark.parametrize("sizes, word", SIZES)
def test_zero_or_negative_sizes_everywhere(sizes, word, tmp_path):
    assert_one_line_exit_2(evaluate(*sizes, "--agents", "random"), word)
    assert_one_line_exit_2(cli("train", "bandit", *sizes, "--out", tmp_path / "x", "--updates", "1"), word)
    assert_one_line_exit_2(cli("tune", "bandit", *sizes, "--trials", "10"), word)


@pytest.mark.parametrize("args, word", [
    (["--trials", "0"], "trials"), (["--trials", "-5"], "trials"),
    (["--agents", "random,ucb2"], "ucb2"), (["--agents", "Gittins"], "Gittins")])
def test_bad_evaluation_options(args, word):
    base = {"--arms": "3", "--episodes": "5", "--agents": "random", "--trials": "10"}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    assert_one_line_exit_2(cli("evaluate", "bandit", *sum(base.items(), ())), word)


@pytest.mark.parametrize("name", ["corrupt", "truncated", "empty", "text"])
def test_a_broken_checkpoint_is_refused_in_one_line(files, name):
    done = evaluate("--arms", "3", "--episodes", "5", "--agents", "rl2", "--checkpoint", files[name])
    assert_one_line_exit_2(done, files[name].name)
    assert_one_line_exit_2(cli("export", files[name], files[name].with_suffix(".out")), files[name].name)


def test_a_missing_checkpoint_or_a_directory_is_refused(files, tmp_path):
    assert_one_line_exit_2(evaluate("--arms", "3", "--episodes", "5", "--agents", "rl2",
                                    "--checkpoint", tmp_path / "nowhere.pt"), "nowhere.pt")
    assert_one_line_exit_2(evaluate("--arms", "3", "--episodes", "5", "--agents", "rl2",
                                    "--checkpoint", tmp_path), str(tmp_path.name))


def test_a_checkpoint_for_another_environment_is_refused(files):
    # same input size would not save it: k=3, n=5 against k=3, n=7 and against k=4, n=5
    assert_one_line_exit_2(evaluate("--arms", "3", "--episodes", "7", "--agents", "rl2",
                                    "--checkpoint", files["good"]), "n=5")
    assert_one_line_exit_2(evaluate("--arms", "4", "--episodes", "5", "--agents", "rl2",
                                    "--checkpoint", files["good"]), "k=3")


def test_a_checkpoint_holding_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save({"format": "rl2-course-checkpoint", "payload": Path("x")}, path)   # not weights-only
    assert_one_line_exit_2(evaluate("--arms", "3", "--episodes", "5", "--agents", "rl2",
                                    "--checkpoint", path), "pickled.pt")


def test_an_unwritable_output_is_refused(files, tmp_path):
    blocked = files["a_file"] / "sub"           # a path under a regular file can never be created
    assert_one_line_exit_2(cli("train", "bandit", "--arms", "3", "--episodes", "5", "--updates", "1",
                               "--out", blocked), "a-file")
    assert_one_line_exit_2(cli("export", files["good"], blocked / "x.pt"), "a-file")
    assert_one_line_exit_2(cli("reproduce", "table1", "--quick", "--out", blocked), "a-file")
    assert_one_line_exit_2(cli("assignment", "--out", blocked / "a.zip"), "a-file")
    if os.geteuid() != 0:                       # root ignores permission bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert_one_line_exit_2(cli("train", "bandit", "--arms", "3", "--episodes", "5",
                                   "--updates", "1", "--out", locked / "run"), "locked")


def test_a_truncated_log_is_repaired_and_a_garbled_one_refused_on_resume(tmp_path):
    out = tmp_path / "run"
    train(TrainConfig.for_bandit(3, 5, updates=2, checkpoint_every=1, **TINY), out, progress=False)
    log = out / "log.csv"
    log.write_text(log.read_text() + "3,48,2.")          # a crash in the middle of a row
    code = textwrap.dedent(f"""
        from rl2_course.train import TrainConfig, train
        train(TrainConfig.for_bandit(3, 5, updates=3, checkpoint_every=1, **{TINY!r}), {str(out)!r},
              resume=True, progress=False)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert list(read_log(log)["update"]) == [1, 2, 3]
    log.write_text("update,mean_return\n1,zzz\n")
    assert_one_line_exit_2(cli("train", "bandit", "--arms", "3", "--episodes", "5", "--updates", "4",
                               "--out", out, "--resume"), "log")


# -- crashes -------------------------------------------------------------------------------------

_DIE_IN_SAVE = """
import os, signal, sys
import rl2_course.agents.checkpoint as checkpoint
from rl2_course.train import TrainConfig, train

real_save, saves = checkpoint.torch.save, []

def dying_save(obj, f, *args, **kwargs):
    saves.append(1)
    if len(saves) == {die_at}:
        f.write(b"half a checkpoint")      # some bytes reach the temporary file ...
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)   # ... and then the machine "loses power"
    return real_save(obj, f, *args, **kwargs)

checkpoint.torch.save = dying_save
train(TrainConfig.for_bandit(3, 5, updates={updates}, checkpoint_every=1, **{tiny!r}), sys.argv[1],
      progress=False)
"""


def test_killed_in_the_middle_of_a_save_the_previous_checkpoint_survives_and_resume_is_exact(tmp_path):
    out = tmp_path / "run"
    script = _DIE_IN_SAVE.format(die_at=3, updates=5, tiny=TINY)
    done = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert list(out.glob(".checkpoint.pt.*.tmp")), "the save was really cut off half-way"
    _, meta = load_checkpoint(out / "checkpoint.pt", bandit_env_spec(3, 5))   # still loadable
    assert meta["extra"]["update"] == 2                                        # the last good save
    config = TrainConfig.for_bandit(3, 5, updates=5, checkpoint_every=1, **TINY)
    resumed = train(config, out, resume=True, progress=False)
    straight = train(config, tmp_path / "straight", progress=False)
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_a_cli_run_killed_at_any_moment_resumes_to_the_uninterrupted_result(tmp_path):
    out, straight = tmp_path / "killed", tmp_path / "straight"
    args = ["train", "bandit", "--arms", "2", "--episodes", "3", "--seed", "4", "--quiet"]
    process = subprocess.Popen([sys.executable, "-m", "rl2_course", *args, "--updates", "400",
                                "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (out / "checkpoint.pt").exists():                 # let it save at least once
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.05)
    time.sleep(0.3)
    process.kill()                                               # SIGKILL: no cleanup runs
    process.wait(timeout=30)
    process.stderr.close()
    _, meta = load_checkpoint(out / "checkpoint.pt", bandit_env_spec(2, 3))
    target = meta["extra"]["update"] + 5
    resumed = cli(*args, "--updates", target, "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = cli(*args, "--updates", target, "--out", straight)
    assert whole.returncode == 0, whole.stderr
    a, _ = load_checkpoint(out / "checkpoint.pt")
    b, _ = load_checkpoint(straight / "checkpoint.pt")
    for key, value in b.state_dict().items():
        assert torch.equal(value, a.state_dict()[key]), key
    assert list(read_log(out / "log.csv")["update"]) == list(range(1, target + 1))


def test_two_runs_with_the_same_seed_give_identical_numbers(tmp_path):
    first = [cli("train", "bandit", "--arms", "2", "--episodes", "3", "--updates", "2", "--seed", "9",
                 "--quiet", "--out", tmp_path / name) for name in ("a", "b")]
    assert all(done.returncode == 0 for done in first), [d.stderr for d in first]
    a, _ = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    b, _ = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    log_a, log_b = read_log(tmp_path / "a" / "log.csv"), read_log(tmp_path / "b" / "log.csv")
    assert all((log_a[c] == log_b[c]).all() for c in log_a if c != "wall_seconds")
    agents = "random,greedy,epsilon-greedy,ucb1,thompson,optimistic-thompson,gittins,bayes-optimal,rl2"
    runs = [cli("evaluate", "bandit", "--arms", "2", "--episodes", "3", "--agents", agents, "--trials",
                "200", "--seed", "5", "--json", "--checkpoint", tmp_path / "a" / "checkpoint.pt")
            for _ in range(2)]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert set(json.loads(runs[0].stdout)["results"]) == set(agents.split(","))


def test_save_refuses_a_path_it_cannot_write_without_leaving_temporary_files(files, tmp_path):
    model, _ = load_checkpoint(files["good"])
    with pytest.raises(OSError):
        save_checkpoint(files["a_file"] / "x.pt", model, {"seed": 0}, bandit_env_spec(3, 5))
    assert not list(files["a_file"].parent.glob(".x.pt.*"))


def _tiny_run(out, updates: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rl2_course", "train", "bandit", "--arms", "3", "--episodes", "5",
            "--updates", str(updates), "--set", "trials_per_update=16", "--set", "hidden_size=8",
            "--set", "checkpoint_every=1000", "--out", str(out), "--quiet", *extra]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_saves_its_last_update_and_resumes_bit_for_bit(tmp_path, sig):
    """Ctrl-C (or SIGTERM) finishes the update under way and saves it, although the next
    scheduled save is 1,000 updates away; --resume then ends where an uninterrupted run does."""
    out = tmp_path / "interrupted"
    run = subprocess.Popen(_tiny_run(out, 100_000), stderr=subprocess.PIPE, text=True)
    log = out / "log.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 4):
        time.sleep(0.1)
    run.send_signal(sig)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130 and "--resume continues the run" in err
    rows = len(read_log(log)["update"])
    _, meta = load_checkpoint(out / "checkpoint.pt")
    assert meta["extra"]["update"] == rows >= 3
    target = rows + 2
    subprocess.run(_tiny_run(out, target, "--resume"), check=True, capture_output=True, timeout=120)
    subprocess.run(_tiny_run(tmp_path / "straight", target), check=True, capture_output=True, timeout=120)
    resumed, _ = load_checkpoint(out / "checkpoint.pt")
    straight, _ = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert list(read_log(log)["update"]) == list(range(1, target + 1))


def test_one_run_per_out_directory_and_stale_temporary_files_are_swept(tmp_path):
    import fcntl

    from rl2_course.runs import run_lock

    out = tmp_path / "run"
    out.mkdir()
    (out / ".checkpoint.pt.abc123.tmp").write_bytes(b"half a checkpoint")
    with run_lock(out):
        assert not (out / ".checkpoint.pt.abc123.tmp").exists()
        with open(out / ".lock") as other:      # a second process would fail to take it
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(UsageError, match="being trained by another process"):
            train(TrainConfig.for_bandit(3, 5, updates=1, trials_per_update=4, hidden_size=4), out,
                  progress=False)


def test_export_refuses_to_overwrite_its_source(tmp_path):
    from rl2_course.cli import main

    train(TrainConfig.for_bandit(3, 5, updates=1, trials_per_update=4, hidden_size=4), tmp_path,
          progress=False)
    source = tmp_path / "checkpoint.pt"
    before = source.read_bytes()
    assert main(["export", str(tmp_path), str(source)]) == 2
    assert source.read_bytes() == before


@pytest.mark.parametrize("args", [
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "max_grad_norm=0"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "reward_scale=0"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "learning_rate=nan"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "learning_rate=-1"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "lr_final_fraction=-0.5"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "clip_coef=-0.1"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "entropy_coef=-1"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--set", "num_threads=100000"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--minutes", "inf"],
    ["train", "bandit", "--arms", "3", "--episodes", "5", "--seed", "-1"],
    ["evaluate", "bandit", "--arms", "3", "--episodes", "5", "--agents", "greedy", "--seed", "-1"],
    ["evaluate", "mdp", "--episodes", "5", "--agents", "greedy", "--seed", str(2 ** 70)],
    ["reproduce", "table1", "--seed", "x"],
    ["notebooks", "--solutions", "/nonexistent-solutions"],
    ["grade", "x.ipynb", "--timeout", "nan"],
    ["grade", "x.ipynb", "--cell-timeout", "-1"],
    ["analyse", "probes", "--arms", "5", "--episodes", "10", "--alpha", "nan"],
])
def test_hyperparameters_and_seeds_torch_or_numpy_would_reject_are_one_line(tmp_path, args, capsys):
    from rl2_course.cli import main

    out = tmp_path / "run"
    try:                              # in-process: argparse's own errors exit with status 2
        status = main([*args, *(["--out", str(out)] if args[0] == "train" else [])])
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_json_output_is_strict_json():
    """A maze metric over no successful episode is NaN inside; on stdout it is null."""
    from rl2_course.files import json_safe

    value = {"length": [float("nan"), 3.0], "nested": ({"x": float("nan")},)}
    assert json.loads(json.dumps(json_safe(value), allow_nan=False)) == {"length": [None, 3.0],
                                                                          "nested": [{"x": None}]}


def _crafted(tmp_path, change) -> Path:
    """A valid bandit k=3, n=5 checkpoint with ``change(payload)`` applied, saved raw."""
    from rl2_course.agents import RecurrentActorCritic

    model = RecurrentActorCritic(1, 3, 8)
    path = tmp_path / "good.pt"
    save_checkpoint(path, model, {"seed": 0}, bandit_env_spec(3, 5))
    payload = torch.load(path, weights_only=True)
    change(payload)
    crafted = tmp_path / "crafted.pt"
    torch.save(payload, crafted)
    return crafted


def _nan_weights(payload):
    payload["state_dict"]["policy_head.weight"][0, 0] = float("nan")


@pytest.mark.parametrize("change, words", [
    (lambda p: p.update(model_spec="a string"), "model_spec is a str"),
    (lambda p: p.update(env_spec="bandit"), "env_spec is a str"),
    (lambda p: p["env_spec"].update(arms=[1, 2]), "names and whole numbers"),
    (lambda p: p["model_spec"].update(hidden_size=10 ** 9), "hidden_size"),
    (lambda p: p["model_spec"].update(num_actions="three"), "num_actions"),
    (_nan_weights, "not finite"),
    (lambda p: p["env_spec"].update(arms=5), "needs 1 and 5"),        # a spec that lies about k
])
def test_crafted_checkpoints_are_refused_in_one_line(tmp_path, change, words):
    path = _crafted(tmp_path, change)
    with pytest.raises(UsageError, match=words):
        load_checkpoint(path)
    done = subprocess.run([sys.executable, "-m", "rl2_course", "export", str(path), str(tmp_path / "out.pt")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "out.pt").exists()
