"""Does a maze agent's memory know where the target is? A linear probe on the GRU state.

    .venv/bin/python benchmarks/maze_memory_probe.py [--checkpoint assets/checkpoints/maze-small.pt]
        [--walls uniform|districts] [--starts same|random [--other-starts]] [--trials 64] [--seed 5]
        [--quantity target|place]

Plays ``--trials`` small-maze trials with the agent (actions sampled, seeded), records every
hidden state h_t and where the target lies from the agent's eyes at that moment
(`MazeTasks.target_offset`: ahead and left, in maze widths), fits a ridge probe ŷ = W·h + b
(`rl2_course.analysis.probes.fit_ridge`) on the first half of the trials and prints its held-out
R² on the other half, per phase of the trial. A memory that carries the target from episode 1
into episode 2 should score well at the *start* of episode 2, before the new start's
surroundings have been seen. An agent trained with the auxiliary loss (``aux_coef``) has its own
readout of the same quantity; its R² is printed beside the probe's. ``--quantity place`` probes
instead where the agent itself stands on the maze's map (`MazeTasks.map_coordinates`, x and y):
whether it can tell where a fresh start has put it (self-localisation), which an agent needs
before a remembered target is any use; an agent trained with ``aux_task=map`` has a readout of
that too. ``--starts`` is the start protocol (default: the one the checkpoint learned; the
figures in benchmarks/RESULTS.md are the shipped agent's, on random starts). A quality
diagnostic, not a speed figure.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from rl2_course.analysis.probes import fit_ridge, r2_score
from rl2_course.envs import make_maze_trials
from rl2_course.errors import UsageError
from rl2_course.evaluate_maze import make_maze_agent
from rl2_course.rollout import TrialStepper
from rl2_course.envs.maze import AUX_TASKS, START_PROTOCOLS, WALL_SCHEMES, maze_size, trained_starts

#: what ``--quantity`` probes: its words, where the env computes it, and which of an auxiliary
#: head's outputs predict it under each auxiliary task (`MazeTasks.auxiliary_targets`' order)
QUANTITIES = {
    "target": ("the target offset (mean over ahead and left)", lambda tasks: tasks.target_offset(),
               {"target": slice(0, 2), "map": slice(0, 2)}),
    "place": ("the agent's place on the map (mean over x and y)",
              lambda tasks: tasks.map_coordinates()[:, :2], {"map": slice(2, 4)}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="assets/checkpoints/maze-small.pt")
    parser.add_argument("--walls", choices=WALL_SCHEMES, default=None,
                        help="the maze's wall scheme (default: the small maze's own, that of its pretrained agent)")
    parser.add_argument("--starts", choices=START_PROTOCOLS, default=None,
                        help="where episode 2 starts (default: the protocol the checkpoint learned)")
    parser.add_argument("--other-starts", action="store_true",
                        help="play --starts although the checkpoint learned the other protocol")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quantity", choices=QUANTITIES, default="target")
    args = parser.parse_args()
    args.walls = args.walls or maze_size("small").walls
    if args.trials < 4:
        parser.error("--trials must be at least 4 (half of them fit the probe, half score it)")
    try:        # a missing, corrupt, other-walls (or other-starts, if named) checkpoint: one line
        agent = make_maze_agent("rl2", "small", checkpoint=args.checkpoint, walls=args.walls,
                                starts=args.starts, other_starts=args.other_starts or args.starts is None)
    except UsageError as error:
        parser.error(str(error))
    starts = args.starts or trained_starts(agent.trained_on)
    model = agent.model
    words, quantity, head_columns = QUANTITIES[args.quantity]
    # an auxiliary head is known by its size (the tasks ask for different counts of numbers)
    aux_task = {size: task for task, size in AUX_TASKS.items()}.get(model.aux_size)
    env = make_maze_trials("small", args.trials, walls=args.walls, starts=starts)
    hidden, offsets, episode, step_in_episode, trial = [], [], [], [], []
    try:        # the loop evaluation and the widgets use; h_t is in the agent's state after a step
        stepper = TrialStepper(env, agent, seed=args.seed)
        steps = np.zeros(args.trials, dtype=np.int64)
        while not stepper.done:
            live = ~stepper.terminated
            offsets.append(quantity(env.task_env)[live])
            episode.append(env.episode_index[live])
            step_in_episode.append(steps[live])
            trial.append(np.nonzero(live)[0])
            done_now = stepper.step().episode_done
            hidden.append(stepper.policy_state.hidden.numpy()[live])
            steps = np.where(done_now, 0, steps + 1)
    finally:
        env.close()
    H, Y, ep, k, b = map(np.concatenate, (hidden, offsets, episode, step_in_episode, trial))
    fitted = b < args.trials // 2
    probe = fit_ridge(H[fitted], Y[fitted], alpha=1.0).predict(H)
    readout = None
    if aux_task in head_columns:
        with torch.no_grad():
            readout = model.aux_head(torch.from_numpy(H)).numpy()[:, head_columns[aux_task]]
    phases = [("episode 1, all steps", ep == 0), ("episode 1, first 10", (ep == 0) & (k < 10)),
              ("episode 2, first 10", (ep == 1) & (k < 10)),
              ("episode 2, steps 10-49", (ep == 1) & (k >= 10) & (k < 50)), ("episode 2, all steps", ep == 1)]
    print(f"{args.checkpoint}, {args.walls} walls, {args.trials} trials, seed {args.seed}: held-out R² "
          f"of {words}\n")
    print("| phase | states scored | linear probe R² | the agent's aux head R² |")
    print("|---|---:|---:|---:|")
    for name, phase in phases:
        scored = phase & ~fitted
        r2_probe = float(np.mean(r2_score(Y[scored], probe[scored])))
        r2_head = "—" if readout is None else f"{float(np.mean(r2_score(Y[scored], readout[scored]))):+.2f}"
        print(f"| {name} | {int(scored.sum())} | {r2_probe:+.2f} | {r2_head} |")


if __name__ == "__main__":
    main()
