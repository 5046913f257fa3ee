"""Batched random mazes in ViZDoom: the RL² paper's visual navigation task (Section 3.3).

A *task* is one random perfect maze (`rl2_course.envs.maze_generator`) of N × N cells (rooms:
`MAZE_SIZES`; the paper's small maze has 3 × 3, its large one 5 × 5) with a target — a tall
red torch — in one of its cells. An *episode* starts the agent in a random cell (never the
target's) facing a random direction and ends when it reaches the target or runs out of time.
A trial is 2 episodes in the *same* maze with the same target (the `TrialEnv` wrapper), so an
agent that remembers the way from episode 1 can take the short way in episode 2: Table 3
measures exactly that.

**Doom, for real.** Each task runs its own ViZDoom (Doom engine) process, headless, with no
window and no sound. The maze is written at run time as a UDMF ``TEXTMAP`` inside a tiny PWAD
(`maze_textmap`, `write_wad`) in a temporary directory, and loaded with ViZDoom's
``set_doom_map("file:PATH")``: the engine builds the BSP nodes itself, so no map tools are
needed, and switching to a new maze costs about a millisecond, not a restart. Every episode
gets its own file (same maze and target, the episode's start position and angle as the player
start), so the agent's start is placed by the map itself and not by cheats.

**Actions** (3, the paper's): 0 turn left, 1 turn right, 2 move forward. One decision lasts
``frame_skip`` = 4 game tics (35 tics are one second of Doom time). A turn rotates by exactly
`TURN_DEGREES` = 30° (ViZDoom's TURN_LEFT_RIGHT_DELTA button, so turns are exact and do not
depend on how long the key has been held); forward presses Doom's walk key, so the agent
accelerates, keeps some momentum and slides along walls like a Doom player.

**Observation**: the first-person view, rendered at 160×120 (ViZDoom's smallest resolution)
and averaged over 4×4 pixel blocks to 40×30 RGB, the resolution of the paper. It is a flat
float32 vector in [0, 1] in channel-first order, ``(3, 30, 40)`` raveled, because the trial
wrapper concatenates flat observations; `observation_image` turns it back into an image.

**Rewards** (per decision):

* +1 on reaching the target (the player's centre within `REACH_DISTANCE` map units of the
  torch's centre); the episode then ends with ``terminated=True``;
* −0.01 per decision in the course's first sizes (`STEP_PENALTY`) and −0.04 in the paper's
  (`PAPER_STEP_PENALTY`, `MazeSize.step_penalty`). The paper's text says −0.04 per step; the
  first author's code sets ViZDoom's living reward to −0.01, which the engine pays every
  *tic*, and a decision lasts 4 tics: −0.04 per decision, as the text says. (The course first
  read the −0.01 as per decision; its first agents were trained so and keep it.)
* −0.001 for bumping into a wall (`WALL_PENALTY`, the paper's value): a forward step that
  moved the player less than `BUMP_DISTANCE` map units.

**Time limit** (`MAZE_SIZES`): 250 decisions per episode in the paper's small maze and 1,000 in
its large one (the first author's evaluation script); 500 and 1,500 in the course's first
sizes, chosen so that a scripted explorer that knows the layout
(`rl2_course.envs.maze_explorer`) finishes every episode 1 of `benchmarks/maze_oracle.py`
within them. Running out ends the episode with ``truncated=True``.

**Sizes.** The paper calls its mazes "5×5" and "9×9". The first author's code
(florensacc/rllab-curriculum at 6e0bbae, ``sandbox/rocky/neural_learner/envs/
doom_fixed_goal_finding_maze_env.py``: ``Prims(size, size)`` with ``maze_sizes`` 3 in the
maze launcher ``launchers/102016/1030/doom_maze_77.py``, 3 and 5 in
``scripts/visual_nav/doom_maze_analysis.py``) counts the grid of squares *with* the walls
between rooms: Prim's algorithm on 3 × 3 rooms makes a 7 × 7 grid, 5 × 5 inside its border.
So the paper's small maze has 3 × 3 rooms (9) and its large one 5 × 5 (25): ``paper-small``
and ``paper-large`` here. The course's first sizes, ``small`` (5 × 5 rooms) and ``large``
(9 × 9), read "5×5" as rooms: the small one has the paper's *large* maze's rooms, and the
large one has no counterpart in the paper. The geometry is ours in every size (corridors 96
map units wide, walls 16 thick, turns of 30°, a torch as the target), where the paper's maze
is a grid of 96-unit squares (walls 96 thick, so rooms lie 192 apart, not 112), its turns
are Doom's held keys (about 7–14° a decision) and its target a marked floor square: a
decision covers more of our maze than of the paper's, so lengths compare only roughly.

**Walls.** By default every wall has one texture (``walls="uniform"``), so two corridors look
alike and an agent restarted at a random place can hardly tell where it is. ``walls=
"districts"`` gives each quadrant of the maze its own texture (`DISTRICT_TEXTURES`): coarse
landmarks that an agent could remember the target by. The scheme changes the pictures only:
a seed gives the same mazes, targets and starts under both.

**Starts.** In the paper every episode of a trial begins at the same place and heading: the
first author's environment (florensacc/rllab-curriculum,
``sandbox/rocky/neural_learner/envs/doom_goal_finding_maze_env.py``) starts each episode with
``game.new_episode()`` on the trial's map, which has one player start (start and target drawn
per trial), and the paper's figure of trajectories draws both episodes from one start.
``starts="same"`` is that protocol and every size's default (`MAZE_SIZES`): what the agent
must remember from episode 1 is the way from *this* start to the target. ``starts="random"``
(the course's first protocol, on which the shipped agents were trained) draws a fresh start
for every episode: harder, since the agent must first work out where it is, and a memoryless
agent "improves" in about half of the trials because a fresh start is often nearer the
target. Both draw the same numbers, so a seed gives the same first episodes under either. A
checkpoint records its protocol (`task_spec`; one without it was trained on "random",
`trained_starts`) and is refused under the other one unless asked for explicitly.

**Doom's own dice.** The engine draws random numbers of its own (the torch's flicker starts
at a random animation frame). Every episode restarts that stream from the row's seed, so an
episode depends only on its maze, target, start and the agent's actions, never on how many
episodes its process played before (for instance for another agent evaluated on the same
processes).

**Position** (x, y, angle) comes from ViZDoom's game variables. It is used for the reward,
the metrics and the widget's map, and is returned in ``info``, never in the observation.

**Threads.** A step sends each task's action to its Doom process from a pool of ``threads``
Python threads (default: one per core), since the engine renders while the GIL is released;
rows share nothing, so the thread count changes the speed and never a number. On 2 cores two
threads step about 25 % more decisions per second than one. More cores help less than one
would hope: a training run with 64 tasks on a 16-core GPU machine made about 3,000 decisions/s
(rollouts and updates together), no more than 2 cores, so there the one Python loop that
feeds the threads is the limit (not profiled; worker processes would be the next step).

**Processes.** `close()` ends every Doom process and removes the temporary files; it also
runs at interpreter exit (``atexit``) and on SIGTERM/SIGHUP (when no other handler is
installed), so an interrupted evaluation leaves nothing behind. A Python process killed
outright (SIGKILL) cannot clean up; the next `MazeTasks` finds the Doom processes of such a
dead owner by their temporary directory and ends them.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import struct
import tempfile
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from rl2_course.envs.base import TaskVectorEnv
from rl2_course.envs.maze_generator import Cell, Maze, cell_distances, generate_maze

# -- the task family: sizes, episodes, wall schemes, auxiliary targets ---------------------------
#: episodes per trial in the paper's maze experiment
MAZE_EPISODES = 2
#: most episodes in a trial (training's ``episodes`` option, evaluation's --episodes-per-trial)
MAX_MAZE_EPISODES = 10
#: the mazes' wall schemes (`wall_texture`): one texture everywhere, or one per quadrant
WALL_SCHEMES = ("uniform", "districts")
#: where the episodes of a trial start. "same": one random start (cell and heading) per trial,
#: reused by every episode of it - the paper's protocol: the first author's environments
#: (florensacc/rllab-curriculum, sandbox/rocky/neural_learner/envs/
#: doom_goal_finding_maze_env.py and doom_fixed_goal_finding_maze_env.py, the one its maze
#: launchers use) begin every episode with game.new_episode() on the same map,
#: whose single player start and target are drawn per trial. "random": a fresh start in every
#: episode (the course's first protocol, harder: the agent must find out where it is before its
#: memory of the target helps, and a fresh start is often nearer the target by chance).
START_PROTOCOLS = ("same", "random")
#: the auxiliary targets `MazeTasks.auxiliary_targets` can give, and how many numbers each has:
#: "target" where the target lies from the agent; "map" that, and where in the maze the agent
#: stands, faces and the target lies
AUX_TASKS = {"target": 2, "map": 8}


# -- rewards ------------------------------------------------------------------------------------
TARGET_REWARD = 1.0
STEP_PENALTY = 0.01            # per decision: the course's first sizes
PAPER_STEP_PENALTY = 0.04      # per decision: the paper's (−0.01 a tic, 4 tics a decision)
WALL_PENALTY = 0.001


@dataclass(frozen=True)
class MazeSize:
    """One maze size: cells (rooms) per side, the time limit of an episode (decisions), the
    wall scheme (`WALL_SCHEMES`) the course's pretrained agent for it was trained with, the
    start protocol (`START_PROTOCOLS`) that training, evaluation, Table 3 and the widget use
    unless told otherwise: the paper's "same" (the shipped agents learned "random"; their
    checkpoints say so, `trained_starts`), and the reward per decision, which an RL² agent
    also reads as an input, so a checkpoint plays only the sizes of its own penalty."""

    size: str
    cells: int
    time_limit: int
    walls: str = "uniform"
    starts: str = "same"
    step_penalty: float = STEP_PENALTY


#: The course's first two sizes read the paper's "5×5" and "9×9" as rooms. Their time limits
#: leave room for exploring the whole maze: a scripted explorer that *knows the layout*
#: (depth-first search with perfect control, `envs.maze_explorer`; `benchmarks/maze_oracle.py`)
#: needs up to 355 decisions for episode 1 in 128 small mazes and up to 1,222 in 64 large ones
#: (90th percentiles 276 and 794), and each limit is the next multiple of 500 above that
#: maximum. The paper's two sizes (**Sizes** above) have its rooms, time limits and step
#: penalty: the paper's RL² took 52 and 180 decisions in episode 1 on average, where the
#: explorer needs 137 and 416 in the course's small and large mazes, with 25 and 81 rooms.
MAZE_SIZES: dict[str, MazeSize] = {
    "small": MazeSize("small", 5, 500, walls="districts"),
    "large": MazeSize("large", 9, 1500),
    "paper-small": MazeSize("paper-small", 3, 250, step_penalty=PAPER_STEP_PENALTY),
    "paper-large": MazeSize("paper-large", 5, 1000, step_penalty=PAPER_STEP_PENALTY),
}


def maze_size(size: str) -> MazeSize:
    """The maze size ``size`` (a key of `MAZE_SIZES`); anything else is a `ValueError`."""
    if size not in MAZE_SIZES:
        raise ValueError(f"unknown maze size {size!r}; known: {', '.join(MAZE_SIZES)}")
    return MAZE_SIZES[size]


def task_spec(size: str, episodes: int = MAZE_EPISODES, walls: str = "uniform",
              starts: str = "random") -> dict[str, Any]:
    """The task family a maze checkpoint was trained on (the wall scheme and the start protocol
    are named only when they are not the first ones, "uniform" and "random", so the first
    checkpoints keep their spec)."""
    spec: dict[str, Any] = {"env": "maze", "size": str(size), "episodes": int(episodes)}
    if walls != "uniform":
        spec["walls"] = str(walls)
    if starts != "random":
        spec["starts"] = str(starts)
    return spec


def trained_starts(spec: dict[str, Any]) -> str:
    """The start protocol a maze checkpoint's spec records: "random" when it names none, since
    the checkpoints made before the protocol was a setting were all trained on fresh starts."""
    return str(spec.get("starts", "random"))


def task_layout(spec: dict[str, Any]) -> tuple[int, int]:
    """(observation size, actions) of an RL² network for this task family: the flat image."""
    return int(np.prod(OBS_SHAPE)), len(ACTION_NAMES)


def describe_task(spec: dict[str, Any]) -> str:
    """How messages name a maze task family: 'maze small, n=2, districts walls, same starts'."""
    return (f"maze {spec.get('size')}, n={spec.get('episodes')}, {spec.get('walls', 'uniform')} "
            f"walls, {trained_starts(spec)} starts")


# -- geometry (Doom map units; the player is a cylinder of radius 16) ---------------------------
CELL_SIZE = 96          # width of a corridor (one cell)
WALL_THICKNESS = 16     # width of a wall between two cells
WALL_HEIGHT = 96
WALL_TEXTURE, FLOOR_TEXTURE, CEILING_TEXTURE = "STARTAN2", "FLOOR0_1", "CEIL1_1"
#: wall schemes: "uniform" (every wall `WALL_TEXTURE`) or "districts": the maze's four quadrants
#: (north-west, north-east, south-west, south-east; the middle row and column go north and west)
#: each have their own texture, chosen for distinct mean colours at 40×30 and none red like the
#: target. Landmarks let an agent that restarts at a random place tell roughly where it is.
DISTRICT_TEXTURES = ("STARTAN2", "COMPBLUE", "CEMENT1", "SLADWALL")
LIGHT_LEVEL = 208
TARGET_THING = 46       # TallRedTorch: tall, bright, visible down a corridor at 40×30
REACH_DISTANCE = 48.0   # centre to centre; touching the torch is 32 (two radii of 16)
PLAYER_START_THING = 1

# -- decisions ----------------------------------------------------------------------------------
FRAME_SKIP = 4
TURN_DEGREES = 30.0
ACTION_NAMES = ("turn left", "turn right", "forward")
BUMP_DISTANCE = 2.0     # a forward step from standing still moves about 7 units
#: tics the engine ignores input after a map starts; skipped before the first observation
SETTLE_TICS = 8


# -- observation --------------------------------------------------------------------------------
SCREEN_HEIGHT, SCREEN_WIDTH = 120, 160
DOWNSAMPLE = 4
OBS_CHANNELS, OBS_HEIGHT, OBS_WIDTH = 3, SCREEN_HEIGHT // DOWNSAMPLE, SCREEN_WIDTH // DOWNSAMPLE
OBS_SHAPE = (OBS_CHANNELS, OBS_HEIGHT, OBS_WIDTH)

_TEMP_PREFIX = "rl2-maze-"


# ------------------------------------------------------------------------------------------------
# The map: block grid -> UDMF TEXTMAP -> PWAD
# ------------------------------------------------------------------------------------------------

def block_edges(blocks: int) -> np.ndarray:
    """Map-unit coordinates of the ``blocks + 1`` edges of a row (or column) of blocks.

    Odd blocks are cells (`CELL_SIZE` wide), even blocks walls (`WALL_THICKNESS`).
    """
    widths = np.where(np.arange(blocks) % 2 == 1, CELL_SIZE, WALL_THICKNESS)
    return np.concatenate([[0], np.cumsum(widths)]).astype(float)


def cell_center(cell: Cell) -> tuple[float, float]:
    """Map coordinates (x, y) of the centre of cell (row, column); rows run south (−y)."""
    r, c = cell
    step = CELL_SIZE + WALL_THICKNESS
    return (WALL_THICKNESS + c * step + CELL_SIZE / 2, -(WALL_THICKNESS + r * step + CELL_SIZE / 2))


def steer(position: np.ndarray, angle: float, waypoint: Cell) -> int:
    """The action that brings the player towards ``waypoint``'s centre: 0 turn left,
    1 turn right, 2 forward (when the centre is within half a turn of straight ahead)."""
    x, y = cell_center(waypoint)
    bearing = math.degrees(math.atan2(y - position[1], x - position[0]))
    error = (bearing - angle + 180.0) % 360.0 - 180.0   # > 0: the centre is to the left
    if abs(error) <= TURN_DEGREES / 2:
        return 2
    return 0 if error > 0 else 1


def position_to_cell(x: float, y: float) -> Cell:
    """The cell (row, column) whose square (with half of its walls) contains map point (x, y)."""
    step = CELL_SIZE + WALL_THICKNESS
    return int((-y - WALL_THICKNESS / 2) // step), int((x - WALL_THICKNESS / 2) // step)


def cell_district(cell: Cell, rows: int, cols: int) -> int:
    """The quadrant (0 NW, 1 NE, 2 SW, 3 SE) of ``cell`` in a ``rows`` × ``cols`` maze."""
    return 2 * int(cell[0] >= (rows + 1) // 2) + int(cell[1] >= (cols + 1) // 2)


def wall_texture(walls: str, cell: Cell, rows: int, cols: int) -> str:
    """The texture of the walls around ``cell`` under wall scheme ``walls`` (`WALL_SCHEMES`)."""
    if walls == "uniform":
        return WALL_TEXTURE
    if walls == "districts":
        return DISTRICT_TEXTURES[cell_district(cell, rows, cols)]
    raise ValueError(f"unknown wall scheme {walls!r}; known: {', '.join(WALL_SCHEMES)}")


def maze_textmap(maze: Maze, target: Cell, start: Cell, angle: float, walls: str = "uniform") -> str:
    """The UDMF ``TEXTMAP`` of ``maze``: walls, one sector, the player start and the target.

    Every open block of the block grid is floor; each side of an open block that borders a
    closed block becomes a one-sided wall, oriented clockwise around the open block so that its
    front side (Doom draws the front, on the right of v1 → v2) faces the floor. All floor blocks
    belong to one sector, so there are no lines between two open blocks at all. A wall takes
    the texture (`wall_texture`) of the cell its open block belongs to (a passage: the cell
    north or west of it).
    """
    grid = maze.open
    xs, ys = block_edges(grid.shape[1]), -block_edges(grid.shape[0])
    vertices: dict[tuple[float, float], int] = {}
    lines: list[str] = []

    def vertex(x: float, y: float) -> int:
        return vertices.setdefault((x, y), len(vertices))

    def closed(i: int, j: int) -> bool:
        return not (0 <= i < grid.shape[0] and 0 <= j < grid.shape[1] and grid[i, j])

    for i, j in zip(*np.nonzero(grid)):
        x0, x1, top, bottom = xs[j], xs[j + 1], ys[i], ys[i + 1]
        # clockwise: west side going north, north going east, east going south, south going west
        sides = (((i, j - 1), (x0, bottom), (x0, top)), ((i - 1, j), (x0, top), (x1, top)),
                 ((i, j + 1), (x1, top), (x1, bottom)), ((i + 1, j), (x1, bottom), (x0, bottom)))
        for (ni, nj), a, b in sides:
            if closed(ni, nj):
                side = len(lines)
                texture = wall_texture(walls, ((i - 1) // 2, (j - 1) // 2), maze.rows, maze.cols)
                lines.append(f"linedef {{ v1 = {vertex(*a)}; v2 = {vertex(*b)}; sidefront = {side}; "
                             f"blocking = true; }}\n"
                             f"sidedef {{ sector = 0; texturemiddle = \"{texture}\"; }}")
    out = ['namespace = "zdoom";']
    out += [f"vertex {{ x = {x:.1f}; y = {y:.1f}; }}" for (x, y) in vertices]
    out += lines
    out.append(f'sector {{ texturefloor = "{FLOOR_TEXTURE}"; textureceiling = "{CEILING_TEXTURE}"; '
               f"heightfloor = 0; heightceiling = {WALL_HEIGHT}; lightlevel = {LIGHT_LEVEL}; }}")
    flags = "skill1 = true; skill2 = true; skill3 = true; skill4 = true; skill5 = true; single = true;"
    for kind, cell, facing in ((PLAYER_START_THING, start, angle), (TARGET_THING, target, 0.0)):
        x, y = cell_center(cell)
        out.append(f"thing {{ x = {x:.1f}; y = {y:.1f}; angle = {int(round(facing)) % 360}; "
                   f"type = {kind}; {flags} }}")
    return "\n".join(out) + "\n"


def write_wad(path: str | os.PathLike, textmap: str, map_name: str = "MAP01") -> Path:
    """A PWAD holding one UDMF map: the lumps ``MAP01``, ``TEXTMAP``, ``ENDMAP``.

    The WAD format: a 12-byte header ("PWAD", lump count, directory offset), the lumps' bytes,
    then a directory of 16-byte entries (offset, size, 8-byte name).
    """
    lumps = [(map_name, b""), ("TEXTMAP", textmap.encode("ascii")), ("ENDMAP", b"")]
    body, directory, offset = b"", b"", 12
    for name, data in lumps:
        directory += struct.pack("<ii8s", offset, len(data), name.encode("ascii"))
        body += data
        offset += len(data)
    path = Path(path)
    path.write_bytes(struct.pack("<4sii", b"PWAD", len(lumps), 12 + len(body)) + body + directory)
    return path


def observation_image(observation: np.ndarray) -> np.ndarray:
    """A flat observation (or a batch of them) back to uint8 images of shape (..., 30, 40, 3)."""
    obs = np.asarray(observation).reshape(*np.shape(observation)[:-1], *OBS_SHAPE)
    return (np.moveaxis(obs, -3, -1) * 255.0 + 0.5).astype(np.uint8)


def downsample_frame(frame: np.ndarray) -> np.ndarray:
    """A 120×160×3 uint8 screen to the flat (3·30·40,) float32 observation (4×4 block means).

    Sums of strided slices rather than ``reshape(...).mean(axis=(1, 3))``: the same numbers,
    ten times faster, and this runs once per decision per task.
    """
    wide = np.asarray(frame).astype(np.uint16)
    rows = sum(wide[k::DOWNSAMPLE] for k in range(DOWNSAMPLE))
    blocks = sum(rows[:, k::DOWNSAMPLE] for k in range(DOWNSAMPLE))
    small = blocks.astype(np.float32) * np.float32(1.0 / (255.0 * DOWNSAMPLE * DOWNSAMPLE))
    return np.ascontiguousarray(small.transpose(2, 0, 1)).ravel()


# ------------------------------------------------------------------------------------------------
# Doom processes: start, and make sure they end
# ------------------------------------------------------------------------------------------------

_LIVE: weakref.WeakSet = weakref.WeakSet()
_CHDIR_LOCK = threading.Lock()
_HOOKS_INSTALLED = False


def _close_all() -> None:
    for env in list(_LIVE):
        env.close()


def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM/SIGHUP: end the Doom processes, then die of the signal as if never caught."""
    _close_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_hooks() -> None:
    global _HOOKS_INSTALLED
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED = True
    atexit.register(_close_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:     # never replace someone's handler
                signal.signal(sig, _on_signal)
    reap_orphans()


def doom_processes(directory: str | os.PathLike | None = None) -> list[int]:
    """Process ids of running ViZDoom engines (those using ``directory``, if given). Linux."""
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"vizdoom") and (
                directory is None or str(directory).encode() in b" ".join(argv)):
            pids.append(int(entry.name))
    return pids


def reap_orphans() -> int:
    """End the Doom processes left by a `MazeTasks` whose Python process died without closing
    it (killed with SIGKILL), and remove its temporary directory; returns how many ended."""
    ended = 0
    for directory in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*"):
        try:
            owner = int(directory.name[len(_TEMP_PREFIX):].split("-")[0])
        except ValueError:
            continue
        if Path(f"/proc/{owner}").exists():
            continue
        for pid in doom_processes(directory):
            try:
                os.kill(pid, signal.SIGKILL)
                ended += 1
            except OSError:
                pass
        shutil.rmtree(directory, ignore_errors=True)
    return ended


def _new_game(directory: Path, first_map: Path, seed: int):
    """A headless ViZDoom game on ``first_map``: no window, no sound, no HUD, synchronous."""
    import vizdoom as vzd

    game = vzd.DoomGame()
    game.set_doom_map(f"file:{first_map}")
    game.set_doom_config_path(str(directory / "_vizdoom.ini"))
    game.set_screen_resolution(vzd.ScreenResolution.RES_160X120)
    game.set_screen_format(vzd.ScreenFormat.RGB24)
    game.set_window_visible(False)
    game.set_sound_enabled(False)
    for setter in ("set_render_hud", "set_render_weapon", "set_render_crosshair",
                   "set_render_decals", "set_render_particles", "set_render_messages",
                   "set_render_effects_sprites", "set_render_screen_flashes"):
        getattr(game, setter)(False)
    game.set_available_buttons([vzd.Button.TURN_LEFT_RIGHT_DELTA, vzd.Button.MOVE_FORWARD])
    game.set_available_game_variables([vzd.GameVariable.POSITION_X, vzd.GameVariable.POSITION_Y,
                                       vzd.GameVariable.ANGLE])
    game.set_mode(vzd.Mode.PLAYER)
    game.set_seed(int(seed))
    # ViZDoom makes a "_vizdoom" folder in the working directory: let it be ours, not the user's.
    with _CHDIR_LOCK:
        cwd = os.getcwd()
        os.chdir(directory)
        try:
            game.init()
        finally:
            os.chdir(cwd)
    return game


# ------------------------------------------------------------------------------------------------
# The batched environment
# ------------------------------------------------------------------------------------------------

class MazeTasks(TaskVectorEnv):
    """B random mazes of ``rows`` × ``cols`` cells, each in its own ViZDoom process.

    ``reset(seed=S)`` draws B mazes and targets (the same S gives the same mazes, targets and
    starts); ``start_episodes(mask)`` puts the agent at a fresh random start in the same mazes.
    ``reset(options=...)`` may fix the tasks instead: ``"mazes"`` (a `Maze` or one per task),
    ``"targets"`` (a cell or one per task) and ``"start"`` (``(cell, angle_degrees)`` used for
    every episode, e.g. to test the target's reward).

    A row whose episode has ended and was not restarted (its trial is over while others go on)
    is left alone by `step`: reward 0, not terminated, the last observation again.

    Arrays of the current tasks: ``mazes`` (list of `Maze`), ``targets`` (B, 2); of the current
    episodes: ``position`` (B, 2) map units, ``angle`` (B,) degrees, ``t`` (B,) decisions taken,
    ``active`` (B,), ``starts`` (B, 2) start cells.
    """

    metadata = {"render_modes": [], "autoreset_mode": None}

    def __init__(self, num_tasks: int, rows: int = 5, cols: int | None = None, *,
                 time_limit: int | None = None, frame_skip: int = FRAME_SKIP,
                 step_penalty: float = STEP_PENALTY, wall_penalty: float = WALL_PENALTY,
                 walls: str = "uniform", starts: str = "random", doom_seed: int = 0,
                 threads: int | None = None) -> None:
        cols = rows if cols is None else cols
        if time_limit is None:                 # the small maze's limit (`MAZE_SIZES`)
            time_limit = maze_size("small").time_limit
        if int(rows) < 1 or int(cols) < 1 or int(rows) * int(cols) < 2:
            raise ValueError(f"a maze needs at least 2 cells (a start and a target), got {rows}×{cols}")
        if int(time_limit) < 1:
            raise ValueError(f"time_limit must be at least 1 decision, got {time_limit}")
        if int(frame_skip) < 1:
            raise ValueError(f"frame_skip must be at least 1 tic, got {frame_skip}")
        if walls not in WALL_SCHEMES:
            raise ValueError(f"unknown wall scheme {walls!r}; known: {', '.join(WALL_SCHEMES)}")
        if starts not in START_PROTOCOLS:
            raise ValueError(f"unknown start protocol {starts!r}; known: {', '.join(START_PROTOCOLS)}")
        if threads is not None and int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        super().__init__(num_tasks, gymnasium.spaces.Box(0.0, 1.0, shape=(int(np.prod(OBS_SHAPE)),),
                                                         dtype=np.float32), num_actions=3)
        self.rows, self.cols = int(rows), int(cols)
        self.time_limit, self.frame_skip = int(time_limit), int(frame_skip)
        self.step_penalty, self.wall_penalty = float(step_penalty), float(wall_penalty)
        self.reward_bounds = (-(self.step_penalty + self.wall_penalty), TARGET_REWARD - self.step_penalty)
        self.walls, self.start_protocol = walls, starts
        self.doom_seed = int(doom_seed)
        B = self.num_envs
        # One Python thread drives each Doom process while it renders (ViZDoom releases the GIL
        # in make_action), so B processes use up to `threads` cores. Rows never share state,
        # so the thread count cannot change any number, only the speed.
        self.threads = min(B, int(threads) if threads is not None else os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        turn = TURN_DEGREES / self.frame_skip          # the delta button turns this much per tic
        self._actions = ([-turn, 0.0], [turn, 0.0], [0.0, 1.0])
        self.mazes: list[Maze] = []
        self.targets = np.zeros((B, 2), dtype=np.int64)
        self.starts = np.zeros((B, 2), dtype=np.int64)
        self.position = np.zeros((B, 2))
        self.angle = np.zeros(B)
        self.t = np.zeros(B, dtype=np.int64)
        self.active = np.zeros(B, dtype=bool)
        self._obs = np.zeros((B, self.observation_size), dtype=np.float32)
        self._frames = np.zeros((B, SCREEN_HEIGHT, SCREEN_WIDTH, 3), dtype=np.uint8)
        self._fixed_start: tuple[Cell, float] | None = None
        self._trial_starts: list[tuple[Cell, float] | None] = [None] * B   # "same": per trial
        self._distances: np.ndarray | None = None      # (B, rows, cols) cells to each target
        self._games: list[Any] = [None] * B
        self._episode_files: list[Path | None] = [None] * B
        self._counter = 0
        self._closed = False
        _install_hooks()
        self._dir = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
        _LIVE.add(self)

    # -- tasks ------------------------------------------------------------------------------------

    def sample_tasks(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        unknown = set(options) - {"mazes", "targets", "start"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(map(repr, sorted(unknown)))}; "
                             "MazeTasks takes 'mazes', 'targets' and 'start'")
        B = self.num_envs
        # Always draw the same numbers, so fixing one part leaves the others' draws unchanged.
        mazes = [generate_maze(self.rows, self.cols, rng) for _ in range(B)]
        cells = rng.integers(self.rows * self.cols, size=B)
        targets = np.stack([cells // self.cols, cells % self.cols], axis=1)
        if "mazes" in options:
            given = options["mazes"]
            given = [given] * B if isinstance(given, Maze) else list(given)
            if len(given) != B or any((m.rows, m.cols) != (self.rows, self.cols) for m in given):
                raise ValueError(f"'mazes' must be one {self.rows}×{self.cols} Maze or {B} of them")
            mazes = given
        if "targets" in options:
            targets = np.broadcast_to(np.asarray(options["targets"], dtype=np.int64), (B, 2)).copy()
            if (targets < 0).any() or (targets[:, 0] >= self.rows).any() or (targets[:, 1] >= self.cols).any():
                raise ValueError(f"'targets' must be cells (row, column) inside the {self.rows}×{self.cols} maze")
        self._fixed_start = None
        if "start" in options:
            cell, angle = options["start"]
            cell = (int(cell[0]), int(cell[1]))
            if any(cell == tuple(t) for t in targets):
                raise ValueError("the fixed 'start' cell must not be a target cell")
            self._fixed_start = (cell, float(angle))
        self.mazes, self.targets = mazes, targets
        self._trial_starts = [None] * B     # new tasks: the "same" protocol draws their starts anew
        self._distances = None              # _target_distances' BFS, drawn up when first asked
        self.active[:] = False

    # -- episodes ---------------------------------------------------------------------------------

    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """A start (random cell other than the target's, random angle) in the rows of ``mask``
        (all rows if None); returns every row's observation. Under the "same" protocol a row's
        first episode of a trial draws it and every later one reuses it; under "random" each
        draws its own (`START_PROTOCOLS`). The draws are the same under both, so a seed gives
        the same first episodes whatever the protocol."""
        if not self.mazes:
            raise RuntimeError("no mazes yet: call reset() first")
        rows = np.arange(self.num_envs) if mask is None else np.nonzero(np.asarray(mask, bool))[0]
        n = self.rows * self.cols
        starts = []
        for b in rows:
            # one draw of each kind per row, whether or not the start is fixed
            offset = int(self.np_random.integers(1, n))
            angle = float(self.np_random.integers(0, 360))
            target = int(self.targets[b, 0]) * self.cols + int(self.targets[b, 1])
            cell = divmod((target + offset) % n, self.cols)
            if self._fixed_start is not None:
                cell, angle = self._fixed_start
            if self.start_protocol == "same":
                if self._trial_starts[b] is None:
                    self._trial_starts[b] = (cell, angle)
                cell, angle = self._trial_starts[b]
            self._counter += 1
            starts.append((int(b), cell, angle, self._counter))
        self._run_rows(lambda start: self._start_episode(*start), starts)
        return self._obs.copy()

    def _run_rows(self, work: Any, items: list) -> None:
        """``work(item)`` for every item, on the env's threads (one item per Doom process)."""
        if self.threads <= 1 or len(items) <= 1:
            for item in items:
                work(item)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="doom")
        for _ in self._pool.map(work, items):     # re-raises the first error of a row
            pass

    def _start_episode(self, b: int, cell: Cell, angle: float, counter: int) -> None:
        path = write_wad(self._dir / f"task{b}-{counter}.wad",
                         maze_textmap(self.mazes[b], tuple(self.targets[b]), cell, angle, self.walls))
        game = self._games[b]
        if game is None:
            game = self._games[b] = _new_game(self._dir, path, self.doom_seed + b)
        else:
            game.set_doom_map(f"file:{path}")
        # Doom draws random numbers of its own (the torch's flicker starts at a random frame),
        # from a stream that every new_episode moves on. Restarting it here makes an episode
        # depend only on its maze, target and start, not on how many episodes this process
        # played before (e.g. for another agent evaluated on the same batch of processes).
        game.set_seed(self.doom_seed + b)
        game.new_episode()
        game.make_action([0.0, 0.0], SETTLE_TICS)
        old, self._episode_files[b] = self._episode_files[b], path
        if old is not None:
            old.unlink(missing_ok=True)       # the engine read the map when it loaded it
        self.starts[b] = cell
        self.t[b] = 0
        self.active[b] = True
        self._read(b)

    def _read(self, b: int) -> None:
        state = self._games[b].get_state()
        self.position[b] = state.game_variables[:2]
        self.angle[b] = state.game_variables[2]
        self._frames[b] = state.screen_buffer
        self._obs[b] = downsample_frame(state.screen_buffer)

    def step(self, actions: np.ndarray):
        actions = self.check_actions(actions)
        B = self.num_envs
        reward = np.zeros(B)
        terminated = np.zeros(B, dtype=bool)
        truncated = np.zeros(B, dtype=bool)
        before = self.position.copy()

        def act(b: int) -> None:
            self._games[b].make_action(self._actions[actions[b]], self.frame_skip)
            self._read(b)

        self._run_rows(act, [int(b) for b in np.nonzero(self.active)[0]])
        moved = np.hypot(*(self.position - before).T)
        goal = self._target_centres()
        reached = self.active & (np.hypot(*(self.position - goal).T) < REACH_DISTANCE)
        bumped = self.active & (actions == 2) & (moved < BUMP_DISTANCE) & ~reached
        self.t += self.active
        reward[self.active] = -self.step_penalty
        reward[bumped] -= self.wall_penalty
        reward[reached] += TARGET_REWARD
        terminated[:] = reached
        truncated[:] = self.active & ~reached & (self.t >= self.time_limit)
        self.active &= ~(terminated | truncated)
        info = {"position": self.position.copy(), "angle": self.angle.copy(), "bumped": bumped,
                "reached": reached}
        return self._obs.copy(), reward, terminated, truncated, info

    # -- views ------------------------------------------------------------------------------------

    def frame(self, b: int = 0) -> np.ndarray:
        """The last full-resolution first-person frame of task ``b`` (120×160×3 uint8)."""
        return self._frames[b].copy()

    def shortest_path_cells(self, b: int = 0) -> int:
        """Cells between task ``b``'s current start and its target along the maze."""
        return int(self._target_distances()[b][tuple(self.starts[b])])

    def _target_distances(self) -> np.ndarray:
        """(B, rows, cols): cells along the maze from every cell to each task's target (a
        breadth-first search per task, once per reset)."""
        if not self.mazes:
            raise RuntimeError("no mazes yet: call reset() first")
        if self._distances is None:
            self._distances = np.stack([cell_distances(m, (int(t[0]), int(t[1])))
                                        for m, t in zip(self.mazes, self.targets)])
        return self._distances

    def cells_to_target(self, position: np.ndarray | None = None) -> np.ndarray:
        """(B,) int64: cells along the maze from where each agent stands (or from the map
        points ``position``, (B, 2)) to its target; 0 in the target's cell.

        Privileged knowledge, like `target_offset`: the trainer's optional reward shaping
        (`TrainConfig.shaping_coef`) rewards the learner for every cell it comes closer; the
        policy never sees it.
        """
        rows, cols = self._cells(self.position if position is None else position)
        return self._target_distances()[np.arange(self.num_envs), rows, cols]

    def _cells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (rows, cols) of the cells that hold the map points ``points`` (B, 2)."""
        cells = np.array([position_to_cell(x, y) for x, y in np.asarray(points, dtype=float)])
        # a point on an outer wall's face may round one cell outwards
        return np.clip(cells[:, 0], 0, self.rows - 1), np.clip(cells[:, 1], 0, self.cols - 1)

    def teacher_actions(self) -> np.ndarray:
        """(B,) int64: what a player who knows the maze and its target would do from where each
        agent stands and looks: `steer` towards the centre of the next cell along the shortest
        path (of the target's own cell, once in it), as the scripted explorer's episode 2 does.

        Privileged knowledge: the trainer's optional teacher loss (`TrainConfig.teacher_coef`)
        asks the policy to act like this in the episodes after a trial's first has found the
        target, when a memory of episode 1 could tell it the way; the policy never sees it.
        """
        distances = self._target_distances()
        actions = np.empty(self.num_envs, dtype=np.int64)
        for b, cell in enumerate(zip(*self._cells(self.position))):
            cell = (int(cell[0]), int(cell[1]))
            here = distances[b][cell]
            waypoint = cell if here == 0 else next(
                n for n in self.mazes[b].passages(cell) if distances[b][n] == here - 1)
            actions[b] = steer(self.position[b], float(self.angle[b]), waypoint)
        return actions

    def _target_centres(self) -> np.ndarray:
        """(B, 2) map coordinates of each task's target: the point the reward measures from."""
        return np.array([cell_center(tuple(t)) for t in self.targets])

    def _extent(self) -> tuple[float, float]:
        """The maze's width and height in map units, outer walls included."""
        step = CELL_SIZE + WALL_THICKNESS
        return self.cols * step + WALL_THICKNESS, self.rows * step + WALL_THICKNESS

    def target_offset(self) -> np.ndarray:
        """Where the target lies from where each agent stands and looks: (B, 2) float32
        ``(ahead, left)``, in maze widths (so within about ±1.4 in any maze).

        Privileged knowledge (it uses the position): the trainer's optional auxiliary loss
        (`TrainConfig.aux_coef`) asks the GRU state to predict it, as navigation agents are
        taught to predict depth or loop closures (Mirowski et al. 2017); it is never an input.
        """
        dx, dy = (self._target_centres() - self.position).T
        a = np.radians(self.angle)          # Doom: 0° faces east (+x), angles turn to the left
        width = self._extent()[0]
        ahead, left = np.cos(a) * dx + np.sin(a) * dy, -np.sin(a) * dx + np.cos(a) * dy
        return (np.stack([ahead, left], axis=1) / width).astype(np.float32)

    def map_coordinates(self) -> np.ndarray:
        """Where each agent stands and faces and where its target lies, on the maze's map:
        (B, 6) float32 ``(x, y, cos θ / 2, sin θ / 2, target x, target y)``, positions in maze
        widths from the maze's centre (within ±0.5), the heading halved to the same range.

        Privileged knowledge too: the "map" auxiliary task (`auxiliary_targets`) asks the GRU
        state for it, so that the memory keeps *where* the target was found, in a frame that
        does not move with the agent, and learns to tell where a fresh start has put it, which
        `target_offset` alone asks only implicitly (self-localisation, Mirowski et al. 2017).
        """
        width, height = self._extent()
        centre = np.array([width / 2, -height / 2])    # rows run south (−y) from y = 0
        a = np.radians(self.angle)
        return np.concatenate([(self.position - centre) / width,
                               np.stack([np.cos(a), np.sin(a)], axis=1) / 2,
                               (self._target_centres() - centre) / width], axis=1).astype(np.float32)

    def auxiliary_targets(self, task: str) -> np.ndarray:
        """The numbers auxiliary task ``task`` (`AUX_TASKS`) asks the trainer's
        auxiliary head to predict, (B, size): "target" is `target_offset`; "map" is
        `target_offset` followed by `map_coordinates`."""
        if task == "target":
            return self.target_offset()
        if task == "map":
            return np.concatenate([self.target_offset(), self.map_coordinates()], axis=1)
        raise ValueError(f"unknown auxiliary task {task!r}; known: {', '.join(AUX_TASKS)}")

    # -- processes --------------------------------------------------------------------------------

    def close(self, **kwargs: Any) -> None:
        """End every Doom process of this env and remove its temporary files (idempotent)."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for game in self._games:
            if game is not None:
                try:
                    game.close()
                except Exception:          # noqa: BLE001 - the process may already be gone
                    pass
        self._games = [None] * self.num_envs
        shutil.rmtree(self._dir, ignore_errors=True)
        _LIVE.discard(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> MazeTasks:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:                  # noqa: BLE001 - never raise from a finaliser
            pass


__all__ = ["AUX_TASKS", "MAZE_EPISODES", "MAX_MAZE_EPISODES", "MAZE_SIZES", "PAPER_STEP_PENALTY", "START_PROTOCOLS", "WALL_SCHEMES", "MazeSize", "describe_task",
           "maze_size", "task_spec", "trained_starts", "ACTION_NAMES", "BUMP_DISTANCE", "FRAME_SKIP", "MazeTasks", "OBS_SHAPE", "REACH_DISTANCE",
           "STEP_PENALTY", "TARGET_REWARD", "TURN_DEGREES", "WALL_PENALTY", "cell_center",
           "doom_processes", "downsample_frame", "maze_textmap", "observation_image",
           "position_to_cell", "reap_orphans", "steer", "write_wad"]
