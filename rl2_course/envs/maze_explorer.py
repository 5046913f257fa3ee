"""A scripted explorer that *cheats*: it reads the maze's layout and its own position.

It is a yardstick, never an agent to compare on equal terms: how many decisions does the
maze cost a player with perfect control and a perfect memory of the layout? Two routes:

* **explore** (what episode 1 asks): depth-first search from the start over the maze's
  cells, visiting neighbours in a random order and backing up from dead ends, until it walks
  into the target's cell. The target's place is not used, so this is what a flawless explorer
  who has not yet seen the target pays (it does not even shortcut when the torch comes into
  view down a corridor);
* **shortest** (what episode 2 allows): the shortest path to the target, as an agent that
  remembered everything from episode 1 would walk it.

Both follow their cells' centres with the env's own three actions: turn towards the next
centre until it lies within half a turn of straight ahead, then walk. `benchmarks/maze_oracle.py`
measures both on many mazes; the course's time limits (`envs.maze.MAZE_SIZES`) are set so that
this explorer finishes practically every episode 1 in time, and Table 3's lengths are
easier to read beside its numbers.
"""

from __future__ import annotations

import math
import numpy as np

from rl2_course.envs.maze import MAZE_EPISODES, MazeTasks, cell_center, maze_size, steer
from rl2_course.envs.maze_generator import Cell, Maze, cell_distances

#: a cell centre counts as passed when the player is this close to it (map units); the corridor
#: is 96 wide, so the player is then well inside the cell
WAYPOINT_RADIUS = 24.0


def exploration_route(maze: Maze, start: Cell, target: Cell, rng: np.random.Generator) -> list[Cell]:
    """Cells a depth-first explorer walks through from ``start`` until it enters ``target``
    (back-tracking included: a dead end's cells appear again on the way back)."""
    route, seen = [start], {start}

    def visit(cell: Cell) -> bool:
        neighbours = maze.passages(cell)
        for k in rng.permutation(len(neighbours)):
            nxt = neighbours[k]
            if nxt in seen:
                continue
            seen.add(nxt)
            route.append(nxt)
            if nxt == target or visit(nxt):
                return True
            route.append(cell)          # back from a dead end
        return False

    if start != target:
        visit(start)
    return route


def shortest_route(maze: Maze, start: Cell, target: Cell) -> list[Cell]:
    """The cells of the shortest path from ``start`` to ``target``: from each cell, the
    neighbour one step closer to the target (`cell_distances` from the target)."""
    to_target = cell_distances(maze, target)
    route = [start]
    while route[-1] != target:
        route.append(next(n for n in maze.passages(route[-1])
                          if to_target[n] == to_target[route[-1]] - 1))
    return route


def ride_routes(env: MazeTasks, routes: list[list[Cell]]) -> tuple[np.ndarray, np.ndarray]:
    """Follow one route per task in episodes already started in ``env``; returns each task's
    (decisions taken, reached the target) when its episode ended."""
    B = env.num_envs
    nxt = np.ones(B, dtype=np.int64)          # index of the waypoint being walked to
    length = np.zeros(B, dtype=np.int64)
    reached = np.zeros(B, dtype=bool)
    running = env.active.copy()
    while running.any():
        actions = np.zeros(B, dtype=np.int64)
        for b in np.nonzero(running)[0]:
            route = routes[b]
            # pass every waypoint already reached (never the last: the target ends the episode)
            while (nxt[b] < len(route) - 1
                   and math.dist(env.position[b], cell_center(route[nxt[b]])) < WAYPOINT_RADIUS):
                nxt[b] += 1
            actions[b] = steer(env.position[b], float(env.angle[b]), route[nxt[b]])
        _, _, terminated, truncated, _ = env.step(actions)
        length += running
        reached |= terminated
        running &= ~(terminated | truncated)
    return length, reached


def explorer_trials(size: str, mazes: int, seed: int, *, time_limit: int | None = None,
                    batch: int = 4) -> dict[str, np.ndarray]:
    """The explorer in ``mazes`` random mazes of ``size``: episode 1 by depth-first search,
    episode 2 (same maze and target, a fresh start) by the shortest path.

    Returns ``lengths`` (mazes, 2) decisions and ``success`` (mazes, 2) booleans, the fields of
    `rl2_course.evaluate_maze.MazeMetrics` (``MazeMetrics(**result)`` gives Table 3's metrics).
    ``time_limit`` defaults to the size's own.
    """
    setting = maze_size(size)
    limit = setting.time_limit if time_limit is None else int(time_limit)
    rng = np.random.default_rng(seed)
    lengths = np.zeros((mazes, MAZE_EPISODES), dtype=np.int64)
    success = np.zeros((mazes, MAZE_EPISODES), dtype=bool)
    with MazeTasks(min(batch, mazes), setting.cells, time_limit=limit) as env:
        for first in range(0, mazes, env.num_envs):
            env.reset(seed=int(rng.integers(2**31)))
            rows = slice(first, min(first + env.num_envs, mazes))
            n = rows.stop - rows.start
            for episode in range(MAZE_EPISODES):
                env.start_episodes()
                ends = [(tuple(env.starts[b]), tuple(env.targets[b])) for b in range(env.num_envs)]
                routes = [exploration_route(env.mazes[b], *ends[b], rng) if episode == 0 else
                          shortest_route(env.mazes[b], *ends[b]) for b in range(env.num_envs)]
                length, reached = ride_routes(env, routes)
                lengths[rows, episode], success[rows, episode] = length[:n], reached[:n]
    return {"lengths": lengths, "success": success}


__all__ = ["WAYPOINT_RADIUS", "exploration_route", "explorer_trials", "ride_routes", "shortest_route",
           "steer"]
