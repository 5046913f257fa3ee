"""The visual maze (Section 3.3 of the RL² paper): maze generation, the Doom map, rewards,
trials, and Doom processes that always end."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rl2_course.envs import SingleTaskEnv, TrialEnv
from rl2_course.errors import UsageError
from rl2_course.envs.maze import (CELL_SIZE, DISTRICT_TEXTURES, OBS_SHAPE, STEP_PENALTY, WALL_PENALTY,
                                  WALL_THICKNESS, MazeTasks, cell_center, cell_district,
                                  doom_processes, maze_textmap, observation_image,
                                  position_to_cell, reap_orphans, write_wad)
from rl2_course.envs.maze_generator import (Maze, all_cells_reachable, carve_step, cell_distances,
                                            closed_grid, generate_maze, is_perfect)

FORWARD, LEFT, RIGHT = 2, 0, 1


def corridor(cells: int = 3) -> Maze:
    """1 × ``cells`` cells, all connected: the simplest maze with a known way to the target."""
    grid = closed_grid(1, cells)
    grid[1, 1:2 * cells] = True
    return Maze(grid)


# -- generation -----------------------------------------------------------------------------

@pytest.mark.parametrize("rows, cols", [(5, 5), (9, 9), (1, 7), (4, 6), (2, 2)])
def test_every_generated_maze_is_perfect_every_cell_reachable(rows, cols):
    for seed in range(25):
        maze = generate_maze(rows, cols, seed)
        assert (maze.rows, maze.cols) == (rows, cols)
        assert all_cells_reachable(maze) and is_perfect(maze), f"seed {seed}:\n{maze}"
        assert not maze.open[0].any() and not maze.open[-1].any()          # the outer frame
        assert not maze.open[::2, ::2].any()                                # the corner posts


def test_the_same_seed_gives_the_same_maze_and_seeds_differ():
    assert np.array_equal(generate_maze(5, 5, 3).open, generate_maze(5, 5, 3).open)
    assert len({generate_maze(5, 5, s).open.tobytes() for s in range(20)}) == 20


def test_one_carve_step_opens_one_wall_and_one_cell_or_backs_up():
    rng = np.random.default_rng(0)
    grid = closed_grid(3, 3)
    grid[1, 1] = True
    stack = [(0, 0)]
    assert carve_step(grid, stack, rng) and len(stack) == 2 and grid.sum() == 3
    top = stack[-1]
    assert top in [(0, 1), (1, 0)] and grid[2 * top[0] + 1, 2 * top[1] + 1]
    full = np.ones_like(grid)                     # every neighbour visited: back up
    stack = [(1, 1), (0, 1)]
    assert carve_step(full, stack, rng) and stack == [(1, 1)]
    assert not carve_step(full, stack, rng) and stack == []


def test_distances_in_a_corridor():
    assert list(cell_distances(corridor(4), (0, 1))[0]) == [1, 0, 1, 2]
    broken = corridor(4)
    broken.open[1, 4] = False                     # wall between cells 1 and 2
    assert not all_cells_reachable(broken) and cell_distances(broken, (0, 0))[0, 3] == -1


# -- the Doom map ---------------------------------------------------------------------------

def test_textmap_and_wad_are_well_formed(tmp_path):
    maze = generate_maze(5, 5, 0)
    text = maze_textmap(maze, (4, 4), (0, 0), 90)
    assert text.startswith('namespace = "zdoom";') and text.count("sector {") == 1
    assert text.count("type = 1;") == 1 and text.count("thing {") == 2
    assert text.count("linedef {") == text.count("sidedef {") > 0
    data = write_wad(tmp_path / "m.wad", text).read_bytes()
    kind, lumps, directory = struct.unpack("<4sii", data[:12])
    assert kind == b"PWAD" and lumps == 3
    names = [struct.unpack("<ii8s", data[directory + 16 * i:directory + 16 * (i + 1)])[2].rstrip(b"\0")
             for i in range(lumps)]
    assert names == [b"MAP01", b"TEXTMAP", b"ENDMAP"]


def test_cell_centres_and_positions_agree():
    for cell in [(0, 0), (3, 1), (8, 8)]:
        assert position_to_cell(*cell_center(cell)) == cell


@pytest.fixture(scope="module")
def one():
    """One Doom process, shared by the tests of a single task (starting Doom takes ~0.3 s)."""
    with MazeTasks(1, 1, 3, time_limit=20) as env:
        yield env


def test_the_map_loads_in_vizdoom_and_the_agent_stands_at_its_start(one):
    obs, info = one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 90)})
    assert obs.shape == (1, int(np.prod(OBS_SHAPE))) and obs.dtype == np.float32
    assert 0.0 <= obs.min() and obs.max() <= 1.0 and obs.std() > 0.01    # a picture, not a blank
    assert observation_image(obs[0]).shape == (30, 40, 3)
    assert np.allclose(one.position[0], cell_center((0, 0))) and one.angle[0] == pytest.approx(90, abs=0.01)
    _, reward, terminated, truncated, _ = one.step(np.array([LEFT]))     # a turn is exactly 30°
    assert one.angle[0] == pytest.approx(120, abs=0.1) and reward[0] == pytest.approx(-STEP_PENALTY)
    assert not terminated[0] and not truncated[0]


def test_reaching_the_target_pays_plus_one_and_ends_the_episode(one):
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 0)})
    rewards, terminated = [], False
    while not terminated:
        _, reward, term, trunc, info = one.step(np.array([FORWARD]))
        rewards.append(reward[0])
        terminated = term[0]
        assert not trunc[0] and len(rewards) < 15
    assert rewards[-1] == pytest.approx(1.0 - STEP_PENALTY) and info["reached"][0]
    assert all(r == pytest.approx(-STEP_PENALTY) for r in rewards[:-1])
    assert position_to_cell(*one.position[0]) in [(0, 1), (0, 2)]
    # an ended episode is left alone until it is restarted
    obs, reward, term, trunc, _ = one.step(np.array([FORWARD]))
    assert reward[0] == 0 and not term[0] and not trunc[0]


def test_target_offset_says_where_the_target_lies_from_the_agents_eyes(one):
    """The auxiliary loss's target: (ahead, left) in maze widths, from position and angle."""
    two_cells = 2 * (CELL_SIZE + WALL_THICKNESS) / (3 * (CELL_SIZE + WALL_THICKNESS) + WALL_THICKNESS)
    for angle, expected in [(0, (two_cells, 0.0)), (90, (0.0, -two_cells)), (180, (-two_cells, 0.0))]:
        one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), angle)})
        offset = one.target_offset()
        assert offset.shape == (1, 2) and offset.dtype == np.float32
        assert np.allclose(offset[0], expected, atol=1e-3), angle
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 0)})
    one.step(np.array([FORWARD]))          # walking east brings it nearer, still dead ahead
    assert 0 < one.target_offset()[0, 0] < two_cells


def test_map_coordinates_place_agent_and_target_on_the_mazes_map(one):
    """The "map" auxiliary task: where the agent stands and faces and where the target lies,
    from the maze's centre in maze widths, whatever way the agent looks."""
    step = CELL_SIZE + WALL_THICKNESS
    third = step / (3 * step + WALL_THICKNESS)          # one cell from the corridor's middle
    for angle in (0, 90, 180):
        one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), angle)})
        where = one.map_coordinates()
        assert where.shape == (1, 6) and where.dtype == np.float32
        heading = np.radians(angle)
        assert np.allclose(where[0], [-third, 0.0, np.cos(heading) / 2, np.sin(heading) / 2, third, 0.0],
                           atol=1e-3), angle
        both = one.auxiliary_targets("map")
        assert np.array_equal(both, np.concatenate([one.target_offset(), where], axis=1))
        assert np.array_equal(one.auxiliary_targets("target"), one.target_offset())
    with pytest.raises(ValueError, match="auxiliary task"):
        one.auxiliary_targets("compass")


def test_cells_to_target_counts_cells_along_the_maze(one):
    """The reward shaping's potential: cells along the maze from where the agent stands."""
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 0)})
    assert one.cells_to_target().tolist() == [2]
    centres = np.array([[cell_center((0, c))] for c in range(3)])     # (3 points, 1 task, 2)
    assert [one.cells_to_target(p).tolist() for p in centres] == [[2], [1], [0]]
    while position_to_cell(*one.position[0]) == (0, 0):   # walk east into the next cell
        one.step(np.array([FORWARD]))
    assert one.cells_to_target().tolist() == [1]
    with MazeTasks(1, 1, 3) as fresh, pytest.raises(RuntimeError, match="reset"):
        fresh.cells_to_target()


def test_cells_to_target_goes_round_a_wall_not_through_it():
    grid = closed_grid(2, 2)                  # a U: (0,0) - (1,0) - (1,1) - (0,1)
    grid[1:4, 1] = grid[3, 1:4] = grid[1:4, 3] = True
    with MazeTasks(1, 2, 2) as env:
        env.reset(seed=0, options={"mazes": Maze(grid), "targets": (0, 1), "start": ((0, 0), 0)})
        assert env.cells_to_target().tolist() == [3]      # one cell away as the crow flies


def test_the_teacher_walks_the_shortest_way_round_a_wall(one):
    """`MazeTasks.teacher_actions`: the action of a player who knows the maze. In a U it turns
    away from the target's side (a wall is in the way), and following it reaches the target
    without touching a wall, in a few decisions per cell."""
    grid = closed_grid(2, 2)                  # a U: (0,0) - (1,0) - (1,1) - (0,1)
    grid[1:4, 1] = grid[3, 1:4] = grid[1:4, 3] = True
    with MazeTasks(1, 2, 2, time_limit=100) as env:
        env.reset(seed=0, options={"mazes": Maze(grid), "targets": (0, 1), "start": ((0, 0), 0)})
        assert env.teacher_actions().tolist() == [RIGHT]      # faces east, the way is south
        decisions, bumps, terminated = 0, 0, np.zeros(1, dtype=bool)
        while not terminated[0] and decisions < 100:
            _, _, terminated, _, info = env.step(env.teacher_actions())
            decisions, bumps = decisions + 1, bumps + int(info["bumped"][0])
        assert terminated[0] and bumps == 0 and decisions <= 3 * 8
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 0)})
    assert one.teacher_actions().tolist() == [FORWARD]
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 90)})
    assert one.teacher_actions().tolist() == [RIGHT]          # faces north, the way is east


def test_walking_into_a_wall_costs_the_wall_penalty(one):
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 180)})
    rewards = [one.step(np.array([FORWARD]))[1][0] for _ in range(6)]
    assert rewards[0] == pytest.approx(-STEP_PENALTY)
    assert rewards[-1] == pytest.approx(-STEP_PENALTY - WALL_PENALTY)


def test_the_time_limit_truncates(one):
    one.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2), "start": ((0, 0), 180)})
    for t in range(one.time_limit):
        _, _, terminated, truncated, _ = one.step(np.array([LEFT]))
        assert not terminated[0] and truncated[0] == (t == one.time_limit - 1)


def test_single_task_view_passes_the_gymnasium_checker(one):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # check_env's notes on float32 image bounds
        check_env(SingleTaskEnv(one), skip_render_check=True, skip_close_check=True)


# -- a batch, trials, seeds and processes -----------------------------------------------------

def test_same_seed_same_mazes_targets_starts_and_a_trial_is_two_episodes_in_one_maze():
    with MazeTasks(2, 5, time_limit=6) as a, MazeTasks(2, 5, time_limit=6) as b:
        trial = TrialEnv(a, 2)
        x, _ = trial.reset(seed=7)
        b.reset(seed=7)
        assert [m.open.tobytes() for m in a.mazes] == [m.open.tobytes() for m in b.mazes]
        assert np.array_equal(a.targets, b.targets) and np.array_equal(a.starts, b.starts)
        assert not (a.starts == a.targets).all(axis=1).any()
        mazes, targets, episodes = list(a.mazes), a.targets.copy(), 0
        actions = np.random.default_rng(0).integers(0, 3, size=(12, 2))
        for t in range(12):
            x, reward, terminated, _, info = trial.step(actions[t])
            if t < 5:                             # Doom is deterministic: same moves, same places
                b.step(actions[t])
                assert np.array_equal(a.position, b.position)
            episodes += info["episode_done"].sum()
            assert a.mazes == mazes and np.array_equal(a.targets, targets)
        assert terminated.all() and episodes == 4 and x.shape == (2, trial.layout.size)


def test_the_thread_count_changes_the_speed_never_the_numbers():
    """Each Doom process is driven by its own thread while it renders; rows share nothing, so
    one thread and four must give the same frames, positions and rewards, step for step."""
    runs = []
    for threads in (1, 4):
        with MazeTasks(4, 5, time_limit=8, threads=threads) as env:
            assert env.threads == threads
            env.reset(seed=3)
            frames, rewards = [env.start_episodes()], []
            for action in np.random.default_rng(1).integers(0, 3, size=(10, 4)):
                obs, reward, *_ = env.step(action)
                frames.append(obs)
                rewards.append(reward)
            runs.append((np.stack(frames), np.stack(rewards), env.position.copy()))
    for one, four in zip(*runs):
        assert np.array_equal(one, four)
    with pytest.raises(ValueError, match="threads"):
        MazeTasks(2, 5, threads=0)


def test_an_episode_does_not_depend_on_the_episodes_its_process_played_before():
    """Doom's own dice (the torch's flicker) restart with every episode, so an agent's frames
    do not depend on what ran earlier in the same process (e.g. another agent's evaluation)."""
    def frames(warm_up: int) -> np.ndarray:
        with MazeTasks(1, 1, 3, time_limit=40) as env:
            for _ in range(warm_up):                 # episodes played before, for someone else
                env.reset(seed=1, options={"mazes": corridor(), "targets": (0, 2)})
                env.step(np.array([LEFT]))
            # facing the torch two cells away: its flame animates in every frame
            obs = [env.reset(seed=0, options={"mazes": corridor(), "targets": (0, 2),
                                              "start": ((0, 0), 0)})[0]]
            obs += [env.step(np.array([LEFT if t % 2 else 1]))[0] for t in range(12)]
            return np.stack(obs)
    first = frames(0)
    assert np.array_equal(first, frames(1)) and np.array_equal(first, frames(3))


def test_district_walls_have_one_texture_per_quadrant_and_keep_the_mazes():
    maze = generate_maze(5, 5, 0)
    assert maze_textmap(maze, (4, 4), (0, 0), 90) == maze_textmap(maze, (4, 4), (0, 0), 90, "uniform")
    text = maze_textmap(maze, (4, 4), (0, 0), 90, "districts")
    assert {t for t in DISTRICT_TEXTURES if f'"{t}"' in text} == set(DISTRICT_TEXTURES)
    assert [cell_district(c, 5, 5) for c in [(0, 0), (2, 2), (0, 3), (3, 0), (4, 4)]] == [0, 0, 1, 2, 3]
    with pytest.raises(ValueError, match="wall scheme"):
        maze_textmap(maze, (4, 4), (0, 0), 90, "stripes")
    with pytest.raises(ValueError, match="wall scheme"):
        MazeTasks(1, 5, walls="stripes")
    # the walls change the pictures, never the tasks
    with MazeTasks(2, 5, time_limit=5) as plain, MazeTasks(2, 5, time_limit=5, walls="districts") as landmarks:
        a, _ = plain.reset(seed=4)
        b, _ = landmarks.reset(seed=4)
        assert [m.open.tobytes() for m in plain.mazes] == [m.open.tobytes() for m in landmarks.mazes]
        assert np.array_equal(plain.targets, landmarks.targets) and np.array_equal(plain.starts, landmarks.starts)
        assert not np.array_equal(a, b)


def test_close_ends_every_doom_process_and_removes_the_files():
    env = MazeTasks(3, 5)
    env.reset(seed=0)
    directory = env._dir
    assert len(doom_processes(directory)) == 3 and directory.exists()
    env.close()
    env.close()                                   # idempotent
    assert doom_processes(directory) == [] and not directory.exists()


# The child acts like an interactive Python: Ctrl-C raises KeyboardInterrupt. (A process that a
# non-interactive shell starts in the background inherits SIGINT *ignored*, as CI runners may.)
_CHILD = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from rl2_course.envs.maze import MazeTasks
    env = MazeTasks(2, 5)
    env.reset(seed=0)
    print(env._dir, flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_doom_process_survives_its_python_process(how, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    try:
        directory = child.stdout.readline().strip()
        assert directory and len(doom_processes(directory)) == 2
        child.send_signal(how)
        child.wait(timeout=60)          # generous: closing Doom is slow on a loaded machine
        if how == signal.SIGKILL:              # nothing can run in the killed process ...
            assert reap_orphans() >= 2         # ... so the next MazeTasks (or this) ends them
        deadline = time.monotonic() + 10
        while doom_processes(directory) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert doom_processes(directory) == [] and not os.path.exists(directory)
        assert not (tmp_path / "_vizdoom").exists() and not (tmp_path / "_vizdoom.ini").exists()
    finally:
        if child.poll() is None:
            child.kill()


# -- the scripted explorer (a yardstick that reads the map) ---------------------------------------

def test_explorer_routes_walk_the_maze_and_end_at_the_target():
    from rl2_course.envs.maze_explorer import exploration_route, shortest_route

    for seed in range(10):
        maze, rng = generate_maze(5, 5, seed), np.random.default_rng(seed)
        start, target = (0, 0), (4, 4)
        path = shortest_route(maze, start, target)
        assert path[0] == start and path[-1] == target
        assert len(path) - 1 == cell_distances(maze, start)[target]
        walk = exploration_route(maze, start, target, rng)
        assert walk[0] == start and walk[-1] == target and walk.count(target) == 1
        assert all(b in maze.passages(a) for a, b in zip(walk, walk[1:]))      # no jumps
        assert set(path) <= set(walk) and len(walk) >= len(path)


def test_the_explorer_rides_to_the_target_in_doom():
    from rl2_course.envs.maze_explorer import exploration_route, ride_routes, shortest_route

    with MazeTasks(2, 3, time_limit=400, threads=1) as env:
        env.reset(seed=4)
        env.start_episodes()
        cells = [(tuple(env.starts[b]), tuple(env.targets[b])) for b in range(2)]
        rng = np.random.default_rng(0)
        explore, ok1 = ride_routes(env, [exploration_route(env.mazes[b], *cells[b], rng) for b in range(2)])
        env.start_episodes()
        cells = [(tuple(env.starts[b]), tuple(env.targets[b])) for b in range(2)]
        shortest, ok2 = ride_routes(env, [shortest_route(env.mazes[b], *cells[b]) for b in range(2)])
    assert ok1.all() and ok2.all()
    # each cell of the way costs a few forward decisions (about 112 map units per cell)
    for b, (length, (start, target)) in enumerate(zip(shortest, cells)):
        assert length >= 2 * cell_distances(env.mazes[b], start)[target]
    assert (explore > 0).all()


def test_explorer_trials_are_seeded_and_reach_every_target():
    from rl2_course.envs.maze_explorer import explorer_trials

    first, again = explorer_trials("small", 3, seed=2), explorer_trials("small", 3, seed=2)
    assert np.array_equal(first["lengths"], again["lengths"]) and first["success"].all()
    assert first["lengths"].shape == (3, 2)
    assert not np.array_equal(first["lengths"], explorer_trials("small", 3, seed=3)["lengths"])


def _episode_starts(protocol: str, seed: int) -> tuple[list, list]:
    """(cell, angle) at the start of episodes 1 and 2 of a seeded batch of 6 trials."""
    with MazeTasks(6, 5, time_limit=3, starts=protocol) as env:
        trial = TrialEnv(env, 2)
        trial.reset(seed=seed)
        first = [(tuple(env.starts[b]), float(env.angle[b])) for b in range(6)]
        second = [None] * 6
        for _ in range(6):                     # 3 decisions per episode: the time limit
            _, _, terminated, _, info = trial.step(np.full(6, 1))       # turn on the spot
            for b in np.nonzero(info["episode_done"] & ~terminated)[0]:
                second[b] = (tuple(env.starts[b]), float(env.angle[b]))
    return first, second


def test_same_starts_reuse_the_trials_start_and_random_starts_draw_anew():
    """The paper's protocol ("same"): both episodes of a trial begin at the identical cell and
    heading; the course's first one ("random") draws a fresh start for episode 2. A seed
    gives the same first episodes under both."""
    running = set(doom_processes(f"rl2-maze-{os.getpid()}-"))     # e.g. the module's fixture
    same_first, same_second = _episode_starts("same", 11)
    random_first, random_second = _episode_starts("random", 11)
    assert same_first == same_second and None not in same_second
    assert same_first == random_first
    assert sum(a != b for a, b in zip(random_first, random_second)) >= 5
    assert set(doom_processes(f"rl2-maze-{os.getpid()}-")) <= running     # ours are gone
    # the paper's protocol is every size's default (training, evaluation, Table 3, widget)
    from rl2_course.envs import make_maze_trials

    for size in ("small", "large"):
        trials = make_maze_trials(size, 1)          # no Doom process until the first reset
        assert trials.task_env.start_protocol == "same"
        trials.close()
    with pytest.raises(ValueError, match="start protocol"):
        MazeTasks(1, 5, starts="nearby")


def test_the_start_protocol_travels_in_the_checkpoint_spec_and_a_mismatch_is_refused(tmp_path):
    from rl2_course.envs.maze import describe_task, task_spec, trained_starts
    from rl2_course.evaluate_maze import make_maze_agent
    from rl2_course.train import TrainConfig, train

    assert "starts" not in task_spec("small")                      # the first checkpoints' spec
    assert trained_starts(task_spec("small")) == "random"            # ... learned fresh starts
    assert task_spec("small", starts="same")["starts"] == "same"
    assert describe_task(task_spec("small", starts="same")).endswith("same starts")
    assert TrainConfig.for_maze("small").env_spec()["starts"] == "same"     # the default: the paper's
    config = TrainConfig.for_maze("small", updates=1, trials_per_update=2, time_limit=3,
                                  hidden_size=8, bptt_length=4)
    train(config, tmp_path, progress=False)
    agent = make_maze_agent("rl2", "small", checkpoint=tmp_path)
    assert agent.name == "rl2" and trained_starts(agent.trained_on) == "same"
    with pytest.raises(UsageError, match="was trained with same starts, not random: evaluate it "
                                         "with --starts same, or add --other-starts"):
        make_maze_agent("rl2", "small", checkpoint=tmp_path, starts="random")
    # asked for explicitly, it plays the other protocol and still says what it learned
    other = make_maze_agent("rl2-forgetful", "small", checkpoint=tmp_path, starts="random",
                            other_starts=True)
    assert trained_starts(other.trained_on) == "same" and other.forget_between_episodes
    with pytest.raises(UsageError, match="start protocol"):
        TrainConfig.for_maze("small", starts="nearby").validate()


def test_the_papers_sizes_have_its_rooms_time_limits_and_step_penalty(tmp_path):
    """``paper-small`` and ``paper-large`` are the first author's mazes: 3 × 3 and 5 × 5 rooms
    (Prim's ``size`` 3 and 5), 250 and 1,000 decisions, −0.01 a tic = −0.04 a decision; an
    agent trained on one size is refused on another, since it also reads the step penalty."""
    from rl2_course.envs import make_maze_trials
    from rl2_course.evaluate_maze import make_maze_agent
    from rl2_course.train import TrainConfig, train

    for size, cells, limit in (("paper-small", 3, 250), ("paper-large", 5, 1000)):
        trials = make_maze_trials(size, 2)
        try:
            trials.reset(seed=3)
            env = trials.task_env
            assert [m.open.shape for m in env.mazes] == [(2 * cells + 1, 2 * cells + 1)] * 2
            assert env.time_limit == limit and env.start_protocol == "same"
            _, reward, *_ = trials.step(np.array([LEFT, LEFT]))        # a turn bumps nothing
            assert reward.tolist() == pytest.approx([-0.04, -0.04])
        finally:
            trials.close()
    config = TrainConfig.for_maze("paper-small", updates=1, trials_per_update=2, time_limit=3,
                                  hidden_size=8, bptt_length=4)
    train(config, tmp_path, progress=False)
    assert make_maze_agent("rl2", "paper-small", checkpoint=tmp_path).trained_on["size"] == "paper-small"
    with pytest.raises(UsageError, match="paper-small"):
        make_maze_agent("rl2", "small", checkpoint=tmp_path)
