"""Fingerprints of the trainer and the evaluators, recorded before a redesign and checked after.

A redesign of the trainer must not change what it computes. This module runs a few short,
seeded training runs (a bandit, an MDP with truncated BPTT, the small maze with and without
its extra training signals) and seeded evaluations of every task family, through the command
line only (the interface a redesign keeps), and reduces each to plain numbers:

* a training run: every log row (all columns but the wall clock) and a SHA-256 of the final
  weights (the state dict's tensors in key order);
* an evaluation: the ``--json`` object the CLI prints.

``python tests/fingerprints.py --write`` records them in ``tests/data/fingerprints.json``;
``tests/test_fingerprints.py`` recomputes them and asks for equality, bit for bit (CPU, one
thread, deterministic kernels; the pins in constraints.txt fix torch's numerics).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from rl2_course.cli import main

RECORD = Path(__file__).parent / "data" / "fingerprints.json"

#: name -> `python -m rl2_course train ...` arguments (without --out)
TRAINING_RUNS: dict[str, list[str]] = {
    "bandit-k5-n10": ["train", "bandit", "--arms", "5", "--episodes", "10", "--seed", "3",
                      "--updates", "3", "--set", "trials_per_update=64"],
    "mdp-n25-bptt": ["train", "mdp", "--episodes", "25", "--seed", "4", "--updates", "2",
                     "--set", "trials_per_update=16", "--set", "bptt_length=40",
                     "--set", "hidden_size=32",
                     # the MDP recipe as it was recorded (settings.MDP_RECIPE came later)
                     "--set", "minibatch_size=none", "--set", "target_kl=none",
                     "--set", "update_gate_bias=0", "--set", "entropy_hold=0"],
    # the maze runs and evaluations were recorded with a fresh start per episode, before the
    # paper's "same" starts became the default: they keep that protocol by name
    "maze-small": ["train", "maze", "--size", "small", "--seed", "5", "--updates", "2",
                   "--set", "trials_per_update=2", "--set", "time_limit=25",
                   "--set", "hidden_size=16", "--set", "minibatches=2", "--set", "starts=random"],
    "maze-small-signals": ["train", "maze", "--size", "small", "--seed", "6", "--updates", "2",
                           "--set", "trials_per_update=2", "--set", "time_limit=25",
                           "--set", "hidden_size=16", "--set", "aux_coef=0.5",
                           "--set", "aux_task=map", "--set", "shaping_coef=0.1",
                           "--set", "teacher_coef=0.2", "--set", "teacher_coef_final=0.05",
                           "--set", "schedule_updates=2", "--set", "starts=random"],
}

#: name -> `python -m rl2_course evaluate ... --json` arguments
EVALUATIONS: dict[str, list[str]] = {
    "bandit-k5-n10": ["evaluate", "bandit", "--arms", "5", "--episodes", "10", "--agents",
                      "rl2,greedy,thompson", "--trials", "200", "--seed", "7"],
    "bandit-k10-n100": ["evaluate", "bandit", "--arms", "10", "--episodes", "100", "--agents",
                        "rl2,ucb1", "--trials", "50", "--seed", "8"],
    "mdp-n10": ["evaluate", "mdp", "--episodes", "10", "--agents", "rl2,greedy,random",
                "--trials", "100", "--seed", "9"],
    "maze-small": ["evaluate", "maze", "--size", "small", "--agents", "rl2,rl2-forgetful,random",
                   "--trials", "3", "--seed", "10", "--starts", "random"],
}
# ... and every shipped checkpoint, on a few tasks: it still loads and plays the same actions
for _k in (5, 10, 50):
    for _n in (10, 100, 500):
        EVALUATIONS[f"shipped-bandit-k{_k}-n{_n}"] = [
            "evaluate", "bandit", "--arms", str(_k), "--episodes", str(_n), "--agents", "rl2",
            "--trials", "20", "--seed", "11"]
for _n in (10, 25, 50, 75, 100):
    EVALUATIONS[f"shipped-mdp-n{_n}"] = ["evaluate", "mdp", "--episodes", str(_n), "--agents",
                                         "rl2", "--trials", "20", "--seed", "12"]
EVALUATIONS["shipped-maze-small-uniform"] = [
    "evaluate", "maze", "--size", "small", "--walls", "uniform", "--agents", "rl2", "--trials", "2",
    "--seed", "13", "--starts", "random", "--checkpoint",
    str(Path(__file__).resolve().parents[1] / "assets" / "checkpoints" / "maze-small-uniform.pt")]
EVALUATIONS["shipped-maze-large"] = ["evaluate", "maze", "--size", "large", "--agents", "rl2",
                                     "--trials", "1", "--seed", "14", "--starts", "random"]
EVALUATIONS["shipped-maze-paper-small-same"] = ["evaluate", "maze", "--size", "paper-small",
                                                "--agents", "rl2", "--trials", "2", "--seed", "15"]
EVALUATIONS["shipped-maze-paper-large-same"] = ["evaluate", "maze", "--size", "paper-large",
                                                "--agents", "rl2", "--trials", "1", "--seed", "16"]


def weights_hash(checkpoint: Path) -> str:
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _run_cli(args: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(args)
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {status}")
    return out.getvalue()


def training_fingerprint(name: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        _run_cli(TRAINING_RUNS[name] + ["--out", tmp])
        with open(Path(tmp) / "log.csv", newline="") as f:
            rows = [{k: v for k, v in row.items() if k != "wall_seconds"}
                    for row in csv.DictReader(f)]
        return {"log": rows, "weights_sha256": weights_hash(Path(tmp) / "checkpoint.pt")}


def evaluation_fingerprint(name: str) -> dict[str, Any]:
    return json.loads(_run_cli(EVALUATIONS[name] + ["--json"]))


def all_fingerprints() -> dict[str, Any]:
    return {"training": {n: training_fingerprint(n) for n in TRAINING_RUNS},
            "evaluation": {n: evaluation_fingerprint(n) for n in EVALUATIONS}}


if __name__ == "__main__":
    # --write: record everything; --write NAME ...: record only these entries again (when a
    # shipped checkpoint is replaced on purpose, its evaluations change and nothing else may)
    if sys.argv[1:2] != ["--write"]:
        sys.exit("usage: python tests/fingerprints.py --write [NAME ...]")
    names = sys.argv[2:]
    unknown = [n for n in names if n not in TRAINING_RUNS and n not in EVALUATIONS]
    if unknown:
        sys.exit(f"unknown fingerprint(s): {', '.join(unknown)}")
    if names:
        record = json.loads(RECORD.read_text())
        for name in names:
            if name in TRAINING_RUNS:
                record["training"][name] = training_fingerprint(name)
            else:
                record["evaluation"][name] = evaluation_fingerprint(name)
    else:
        record = all_fingerprints()
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD}")
