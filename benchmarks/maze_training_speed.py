"""Seconds per RL² training update on the small ViZDoom maze: rollout and PPO update apart.

    .venv/bin/python benchmarks/maze_training_speed.py [--updates 3] [--threads 1,2] [--bptt 50,none]

Each row runs ``--updates`` updates of the small maze's default training setting (16 trials
per update, `settings.maze_training_setting`) from the pretrained agent's weights, so the
trials end the way a trained agent's do (a fresh network would time out every one), for one
torch thread count and one BPTT length. "rollout" is `collect_trials` (Doom stepping included),
"update" is `ppo_update` (4 epochs × 4 minibatches). "own steps" is the share of the batch's
(T × B) steps that belong to a trial rather than to a row waiting for the longest one.
Every row starts from the same weights and meets the same mazes (environment seeds 0, 1, ...);
after its first update a row's policy differs from the others' (another BPTT length, other
float roundings), so its later trials end at other steps. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from rl2_course.argtypes import int_list, int_or_none_list
from rl2_course.settings import pretrained_maze_checkpoint
from rl2_course.threads import deterministic_torch
from rl2_course.train import TrainConfig, collect_trials, env_seed, fresh_state, ppo_update


def time_updates(threads: int, bptt: int | None, updates: int, seed: int) -> dict[str, float]:
    config = TrainConfig.for_maze("small", bptt_length=bptt, num_threads=threads, seed=seed,
                                  init_from=str(pretrained_maze_checkpoint("small")))
    rollout = update = own = decisions = 0.0
    with deterministic_torch(config.num_threads):
        state = fresh_state(config)
        env = config.make_env()
        try:
            for u in range(updates):
                start = time.perf_counter()
                batch = collect_trials(state.model, env, env_seed(seed, u), state.sampler,
                                       config.bptt_length)
                middle = time.perf_counter()
                ppo_update(state.model, state.optimizer, batch, config, config.entropy_coef,
                           state.shuffler)
                rollout += middle - start
                update += time.perf_counter() - middle
                own += float(batch.valid.mean())
                decisions += float(batch.valid.sum())
        finally:
            env.close()
    return {"rollout": rollout / updates, "update": update / updates, "own": own / updates,
            "rate": decisions / (rollout + update)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3, help="updates timed per row")
    parser.add_argument("--threads", type=int_list, default="1,2", help="torch CPU thread counts")
    parser.add_argument("--bptt", type=int_or_none_list, default="50,none", help="BPTT lengths ('none' = whole trials)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"RL² training on the small maze, 16 trials per update, from the pretrained agent — "
          f"{platform.machine()}, torch {torch.__version__}, {args.updates} updates per row\n")
    print("| BPTT | torch threads | rollout s | update s | s per update | own steps "
          "| decisions/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for bptt in args.bptt:
        bptt_text = "none" if bptt is None else str(bptt)
        for threads in args.threads:
            r = time_updates(threads, bptt, args.updates, args.seed)
            print(f"| {bptt_text} | {threads} | {r['rollout']:.1f} | {r['update']:.1f} "
                  f"| {r['rollout'] + r['update']:.1f} | {r['own']:.0%} | {r['rate']:,.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
