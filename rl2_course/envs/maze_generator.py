"""Random perfect mazes on a grid of cells, by depth-first-search carving (the maze's *layout*).

The RL² paper's visual navigation task (Duan et al. 2016, Section 3.3) puts the agent in a
random maze of 3×3 ("small") or 5×5 ("large") cells; the paper counts the walls between them
too, and calls them 5×5 and 9×9 (`envs.maze`, **Sizes**). A *perfect* maze has exactly one path
between any two cells: no loops and no unreachable cell. Depth-first search ("recursive
backtracker") makes one, and is short enough to write as an exercise:

    start in a random cell; mark it visited and push it on a stack;
    repeat until the stack is empty:
        look at the cell on top of the stack;
        if it has unvisited neighbours: pick one at random, knock down the wall between,
                                        mark it visited and push it;
        else: pop the cell (a dead end: back up one step).

`carve_step` is one turn of that loop; `generate_maze` runs it to the end.

**Representation.** A maze of R × C cells is a boolean *block grid* ``open`` of shape
(2R + 1, 2C + 1): cell (r, c) is block (2r + 1, 2c + 1); the block between two neighbouring
cells is their wall, ``True`` where it has been knocked down (a passage); the blocks at even
(row, column) pairs are the corner posts, always closed, and so is the outer frame. This one
array is enough to draw the maze (`rl2_course.envs.maze` turns it into Doom geometry) and to
search it (`cell_distances`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the four directions as (row, column) steps between neighbouring cells
DIRECTIONS = ((-1, 0), (0, 1), (1, 0), (0, -1))

Cell = tuple[int, int]


@dataclass(frozen=True)
class Maze:
    """A maze of ``rows`` × ``cols`` cells as its (2R + 1, 2C + 1) block grid (True = open)."""

    open: np.ndarray

    def __post_init__(self) -> None:
        grid = np.asarray(self.open, dtype=bool)
        if grid.ndim != 2 or grid.shape[0] % 2 == 0 or grid.shape[1] % 2 == 0 or min(grid.shape) < 3:
            raise ValueError(f"a block grid has odd sides of at least 3, got shape {grid.shape}")
        object.__setattr__(self, "open", grid)

    @property
    def rows(self) -> int:
        return self.open.shape[0] // 2

    @property
    def cols(self) -> int:
        return self.open.shape[1] // 2

    @property
    def cells(self) -> list[Cell]:
        return [(r, c) for r in range(self.rows) for c in range(self.cols)]

    def passages(self, cell: Cell) -> list[Cell]:
        """The neighbours of ``cell`` that one can walk to (no wall in between)."""
        r, c = cell
        return [(r + dr, c + dc) for dr, dc in DIRECTIONS
                if self.open[2 * r + 1 + dr, 2 * c + 1 + dc]
                and 0 <= r + dr < self.rows and 0 <= c + dc < self.cols]

    def __str__(self) -> str:
        """ASCII drawing: '#' wall, ' ' open (handy in a notebook and in test failures)."""
        return "\n".join("".join(" " if v else "#" for v in row) for row in self.open)


def cell_block(cell: Cell) -> tuple[int, int]:
    """The block-grid index of cell (r, c)."""
    return 2 * cell[0] + 1, 2 * cell[1] + 1


def closed_grid(rows: int, cols: int) -> np.ndarray:
    """A block grid with every wall standing and no cell visited yet (all False)."""
    if int(rows) < 1 or int(cols) < 1:
        raise ValueError(f"a maze needs at least 1×1 cells, got {rows}×{cols}")
    return np.zeros((2 * int(rows) + 1, 2 * int(cols) + 1), dtype=bool)


def carve_step(grid: np.ndarray, stack: list[Cell], rng: np.random.Generator) -> bool:
    """One step of depth-first carving on ``grid`` (modified in place); returns ``bool(stack)``.

    A cell counts as visited once its block is open. Looks at the cell on top of ``stack``:
    if some neighbour is unvisited, picks one uniformly with ``rng``, opens the wall block
    between the two and the neighbour's block, and pushes the neighbour; otherwise pops.
    The neighbours are considered in the fixed order of `DIRECTIONS`, so a seed gives one maze.
    """
    r, c = stack[-1]
    rows, cols = grid.shape[0] // 2, grid.shape[1] // 2
    unvisited = [(dr, dc) for dr, dc in DIRECTIONS
                 if 0 <= r + dr < rows and 0 <= c + dc < cols
                 and not grid[2 * (r + dr) + 1, 2 * (c + dc) + 1]]
    if unvisited:
        dr, dc = unvisited[rng.integers(len(unvisited))]
        grid[2 * r + 1 + dr, 2 * c + 1 + dc] = True               # knock the wall down
        grid[2 * (r + dr) + 1, 2 * (c + dc) + 1] = True           # visit the neighbour
        stack.append((r + dr, c + dc))
    else:
        stack.pop()                                               # dead end: back up
    return bool(stack)


def generate_maze(rows: int, cols: int, rng: np.random.Generator | int | None = None) -> Maze:
    """A random perfect maze of ``rows`` × ``cols`` cells (same ``rng`` seed, same maze)."""
    rng = np.random.default_rng(rng)
    grid = closed_grid(rows, cols)
    start = (int(rng.integers(rows)), int(rng.integers(cols)))
    grid[cell_block(start)] = True
    stack = [start]
    while carve_step(grid, stack, rng):
        pass
    return Maze(grid)


def cell_distances(maze: Maze, source: Cell) -> np.ndarray:
    """Steps (cell to neighbouring cell) from ``source`` to every cell; -1 where unreachable."""
    dist = np.full((maze.rows, maze.cols), -1, dtype=np.int64)
    dist[source] = 0
    frontier = [source]
    while frontier:
        nxt = []
        for cell in frontier:
            for n in maze.passages(cell):
                if dist[n] < 0:
                    dist[n] = dist[cell] + 1
                    nxt.append(n)
        frontier = nxt
    return dist


def all_cells_reachable(maze: Maze) -> bool:
    """True when every cell can be walked to from cell (0, 0)."""
    return bool((cell_distances(maze, (0, 0)) >= 0).all())


def is_perfect(maze: Maze) -> bool:
    """Every cell reachable and no loop: a connected graph with exactly cells − 1 passages."""
    passages = sum(len(maze.passages(cell)) for cell in maze.cells) // 2
    return all_cells_reachable(maze) and passages == maze.rows * maze.cols - 1


__all__ = ["Cell", "DIRECTIONS", "Maze", "all_cells_reachable", "carve_step", "cell_block",
           "cell_distances", "closed_grid", "generate_maze", "is_perfect"]
