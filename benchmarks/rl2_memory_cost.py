"""What a memory costs as trials grow: GRU against causal attention, per step and per trial.

    .venv/bin/python benchmarks/rl2_memory_cost.py [--lengths 10,100,500] [--batch 64]

For each trial length T and each memory (`agents.cells`: the course's GRU of 128 units; the
attention core of `agents.attention` with 64 numbers per step, 2 layers, 4 heads and a
context of T), on one torch thread:

* **rollout µs/step**: one `step` for a batch of ``--batch`` trials, averaged over a whole
  trial. The GRU's step costs the same at every t; attention reads a key/value cache of the t
  steps so far (its state, 2 · layers · T · 64 numbers per trial), so its step grows with t.
  Rollouts write each step into that cache in place (``step(..., in_place=True)``); the row
  "cache copied per step" is the functional step autograd needs, which copies the whole cache;
* **update ms/trial**: forward and backward through whole trials (what one PPO minibatch
  does), per trial: the GRU is T sequential steps, attention one parallel pass that grows as
  T² in its attention weights;
* **state numbers**: what one trial's memory holds between steps.

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.argtypes import int_list

MEMORIES = {"GRU (128 units)": dict(hidden_size=128),
            "attention (64, 2 layers)": dict(hidden_size=64, cell="attention"),
            # the functional step (what autograd needs): every step copies the whole cache
            "attention, cache copied per step": dict(hidden_size=64, cell="attention",
                                                     in_place=False)}


def measure(options: dict, length: int, batch: int, repeats: int = 2) -> tuple[float, float, int]:
    """(µs per rollout step, ms per trial of forward + backward, state numbers)."""
    torch.manual_seed(0)
    options = dict(options)
    in_place = options.pop("in_place", True)
    extra = {"context": length} if options.get("cell") == "attention" else {}
    model = RecurrentActorCritic(10, 5, **options, **extra).eval()
    x = torch.randn(length, batch, model.input_size)
    step_times, update_times = [], []
    for _ in range(repeats):
        with torch.no_grad():
            h = model.initial_hidden(batch)
            start = time.perf_counter()
            for t in range(length):
                _, _, h = model.step(x[t], h, in_place=in_place)   # as rollouts do
            step_times.append((time.perf_counter() - start) / length)
        model.train()
        start = time.perf_counter()
        logits, values, _ = model.forward_sequence(x, model.initial_hidden(batch))
        (logits.square().mean() + values.square().mean()).backward()
        update_times.append((time.perf_counter() - start) / batch)
        model.eval()
    return min(step_times) * 1e6, min(update_times) * 1e3, model.state_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int_list, default="10,100,500",
                        help="trial lengths in steps")
    parser.add_argument("--batch", type=int, default=64, help="trials stepped together")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"RL² memories on trials of T steps: a batch of {args.batch} trials, one torch "
          f"thread, {platform.machine()}, torch {torch.__version__}\n")
    print("| T | memory | rollout µs/step (batch) | update ms/trial | state numbers/trial |")
    print("|---:|---|---:|---:|---:|")
    for length in args.lengths:
        for name, options in MEMORIES.items():
            step_us, update_ms, state = measure(options, length, args.batch)
            print(f"| {length} | {name} | {step_us:,.0f} | {update_ms:.2f} | {state:,} |", flush=True)


if __name__ == "__main__":
    main()
