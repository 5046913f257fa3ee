"""GRU against attention, side by side: the same slow learner, seeds and samples, two memories.

    .venv/bin/python benchmarks/rl2_memory_study.py [--settings bandit:5:10,bandit:10:10,mdp:10]
        [--steps 2e6] [--seeds 0] [--save-logs DIR | --from-logs DIR] [--plot FILE.png]

For each setting (``bandit:K:N`` or ``mdp:N``) and seed, trains RL² twice with the package's
trainer (`rl2_course.train`) for the same number of environment steps, the schedules annealed
over the run:

* **gru**: the setting's defaults (`rl2_course.settings`), the paper's network;
* **attention**: the same defaults with the causal-attention memory of `agents.attention` in
  place of the GRU (`ATTENTION`: 64 numbers per step, 2 layers, 4 heads, lr 1e-3, minibatches
  of 32 trials with an approx-KL stop at 0.02 and the entropy bonus held for 80 % of the
  run, the recipe `rl2_recipe_study.py` found for MDPs).

From each log it reports the on-policy mean trial return and the last episode's return (the
memory's signature; a bandit's "episode" is one pull) over the last 10 updates, with the
standard error over those updates, and the training seconds on one CPU thread (the trainer's
own clock). Prints a markdown table. ``--from-logs`` prints it from logs an earlier run kept;
``--plot`` also draws the learning curves: per setting, the mean trial return and the last
episode's return of both memories against environment steps and against training seconds.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from rl2_course.families import family
from rl2_course.train import TrainConfig, read_log, train

ATTENTION = dict(cell="attention", hidden_size=64, learning_rate=1e-3, minibatch_size=32,
                 target_kl=0.02, entropy_hold=0.8)
MEMORIES = {"gru": {}, "attention": ATTENTION}


def parse_setting(text: str) -> tuple[str, tuple[int, ...]]:
    """'bandit:5:10' -> ('bandit', (5, 10)); 'mdp:10' -> ('mdp', (10,))."""
    env, *numbers = text.split(":")
    if env not in ("bandit", "mdp") or len(numbers) != (2 if env == "bandit" else 1):
        raise argparse.ArgumentTypeError(f"{text!r}: expected bandit:K:N or mdp:N")
    return env, tuple(int(n) for n in numbers)


def settings_list(text: str) -> list[tuple[str, tuple[int, ...]]]:
    return [parse_setting(t) for t in text.split(",") if t]


def run(env: str, setting: tuple[int, ...], memory: dict, steps: float, seed: int,
        save_log: Path | None = None) -> dict[str, np.ndarray]:
    """One training run of about ``steps`` environment steps; its log."""
    config = TrainConfig.for_task(env, *setting, seed=seed, **memory)
    per_update = config.trials_per_update * family(env).trial_steps(config.task)
    updates = max(1, int(round(steps / per_update)))
    config = TrainConfig.for_task(env, *setting, seed=seed, updates=updates,
                                  schedule_updates=updates, **memory)
    with tempfile.TemporaryDirectory() as out:
        train(config, out, progress=False)
        if save_log is not None:
            save_log.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f"{out}/log.csv", save_log)
        return read_log(f"{out}/log.csv")


def log_name(env: str, setting: tuple[int, ...], memory: str, seed: int) -> str:
    return f"{env}-{'-'.join(map(str, setting))}-{memory}-s{seed}.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", type=settings_list, default="bandit:5:10,bandit:10:10,mdp:10")
    parser.add_argument("--steps", type=float, default=2e6, help="environment steps per run")
    parser.add_argument("--seeds", type=lambda t: [int(s) for s in t.split(",")], default=[0])
    parser.add_argument("--save-logs", type=Path, default=None,
                        help="keep each run's log.csv here")
    parser.add_argument("--from-logs", type=Path, default=None,
                        help="read the logs from here instead of training")
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw the learning curves into this PNG file")
    args = parser.parse_args()
    logs: dict[tuple[str, str, int], tuple[dict[str, np.ndarray], int]] = {}
    torch.set_num_threads(1)
    print(f"RL² memories side by side: {args.steps:,.0f} env steps per run, seeds {args.seeds}, "
          f"{platform.machine()}, torch {torch.__version__}, 1 thread\n")
    print("| setting | seed | memory | updates | return (last 10 updates) | last episode "
          "| first episode | training s |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for env, setting in args.settings:
        for seed in args.seeds:
            for memory, options in MEMORIES.items():
                name = log_name(env, setting, memory, seed)
                if args.from_logs is not None:
                    log = read_log(args.from_logs / name)
                else:
                    log = run(env, setting, options, args.steps, seed,
                              None if args.save_logs is None else args.save_logs / name)
                tail = slice(-10, None)
                ret = log["mean_return"][tail]
                label = f"{env} " + (f"k={setting[0]}, n={setting[1]}" if env == "bandit"
                                     else f"n={setting[0]}")
                task = TrainConfig.for_task(env, *setting).task
                logs[label, memory, seed] = log, family(env).trial_steps(task)
                print(f"| {label} | {seed} | {memory} | {len(log['update'])} | {ret.mean():.2f} ± "
                      f"{ret.std(ddof=1) / np.sqrt(len(ret)):.2f} | "
                      f"{log['last_episode_return'][tail].mean():.3f} | "
                      f"{log['first_episode_return'][tail].mean():.3f} | "
                      f"{log['wall_seconds'][-1]:.0f} |", flush=True)
    if args.plot is not None:
        plot_curves(logs, args.plot)
        print(f"\nwrote {args.plot}")


def plot_curves(logs: dict[tuple[str, str, int], tuple[dict[str, np.ndarray], int]],
                path: Path) -> None:
    """One row per setting: return and last-episode return against env steps and seconds."""
    from matplotlib.figure import Figure

    labels = list(dict.fromkeys(label for label, _, _ in logs))
    fig = Figure(figsize=(13, 2.6 * len(labels)), dpi=80, layout="constrained")
    axes = fig.subplots(len(labels), 3, squeeze=False)
    for row, label in zip(axes, labels):
        for (name, memory, seed), (log, steps_per_trial) in logs.items():
            if name != label:
                continue
            steps = log["trials_seen"] * steps_per_trial
            style = dict(label=f"{memory} (seed {seed})", color="C0" if memory == "gru" else "C1")
            row[0].plot(steps / 1e6, log["mean_return"], **style)
            row[1].plot(steps / 1e6, log["last_episode_return"], **style)
            row[2].plot(log["wall_seconds"] / 60, log["mean_return"], **style)
        row[0].set_ylabel(f"{label}\ntrial return")
        row[1].set_ylabel("last episode's return")
        row[0].set_xlabel("env steps (M)")
        row[1].set_xlabel("env steps (M)")
        row[2].set_xlabel("training minutes (1 CPU thread)")
        row[2].set_ylabel("trial return")
        row[0].legend(fontsize="small")
    fig.savefig(path)


if __name__ == "__main__":
    main()
