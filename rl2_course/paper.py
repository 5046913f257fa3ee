"""The RL² paper's published results, for printing beside ours (never as our results).

Source: Duan, Schulman, Chen, Bartlett, Sutskever, Abbeel (2016), "RL²: Fast Reinforcement
Learning via Slow Reinforcement Learning", arXiv:1611.02779, Tables 1–3, transcribed from
the paper's text. Gittins, Random and RL² of Table 1, six columns of Table 2 and most of
Table 3 agree with the copy reprinted by Mishra et al. (2017, SNAIL), except two cells noted
below. The paper averaged 1000 tasks per cell; its Table 1 has no error bars.
"""

from __future__ import annotations

CITATION = "Duan et al. (2016), arXiv:1611.02779"

#: Table 1 (multi-armed bandits): (n, k) -> {column: total reward}
TABLE1_COLUMNS = ("random", "gittins", "thompson", "optimistic-thompson", "ucb1",
                  "epsilon-greedy", "greedy", "rl2")
_T1_ROWS = {
    (10, 5): (5.0, 6.6, 5.7, 6.5, 6.7, 6.6, 6.6, 6.7),
    (10, 10): (5.0, 6.6, 5.5, 6.2, 6.7, 6.6, 6.6, 6.7),
    (10, 50): (5.1, 6.5, 5.2, 5.5, 6.6, 6.5, 6.5, 6.8),
    (100, 5): (49.9, 78.3, 74.7, 77.9, 78.0, 75.4, 74.8, 78.7),
    (100, 10): (49.9, 82.8, 76.7, 81.4, 82.4, 77.4, 77.1, 83.5),
    (100, 50): (49.8, 85.2, 64.5, 67.7, 84.3, 78.3, 78.0, 84.9),
    (500, 5): (249.8, 405.8, 402.0, 406.7, 405.8, 388.2, 380.6, 401.6),  # SNAIL's copy: RL² 401.5
    (500, 10): (249.0, 437.8, 429.5, 438.9, 437.1, 408.0, 395.0, 432.5),
    (500, 50): (249.6, 463.7, 427.2, 437.6, 457.6, 413.6, 402.8, 438.9),
}
TABLE1: dict[tuple[int, int], dict[str, float]] = {
    key: dict(zip(TABLE1_COLUMNS, row)) for key, row in _T1_ROWS.items()}

#: Table 2 (random tabular MDPs, 10 states, 5 actions, 10 steps): n -> {column: total reward}
TABLE2_COLUMNS = ("random", "psrl", "opsrl", "ucrl2", "beb", "epsilon-greedy", "greedy", "rl2")
_T2_ROWS = {
    10: (100.1, 138.1, 144.1, 146.6, 150.2, 132.8, 134.8, 156.2),
    25: (250.2, 408.8, 425.2, 424.1, 427.8, 377.3, 368.8, 445.7),
    50: (499.7, 904.4, 930.7, 918.9, 917.8, 823.3, 769.3, 936.1),
    75: (749.9, 1417.1, 1449.2, 1427.6, 1422.6, 1293.9, 1172.9, 1428.8),
    100: (999.4, 1939.5, 1973.9, 1942.1, 1935.1, 1778.2, 1578.5, 1913.7),
}
TABLE2: dict[int, dict[str, float]] = {n: dict(zip(TABLE2_COLUMNS, row)) for n, row in _T2_ROWS.items()}

#: Table 3 (visual navigation), episodes 1 and 2 of RL²: mean length of successful episodes
#: (± error), success rate, and "% improved": the share of trials whose 2nd episode is shorter
#: than the 1st (the issue's reading, which `evaluate_maze` computes; the caption can also be
#: read as "no longer than", which would count ties too).
TABLE3: dict[str, dict] = {
    "small": {"length": (52.4, 39.1), "length_error": (1.3, 0.9), "success": (0.993, 0.996),
              "improved": 0.917},
    # SNAIL's copy gives 150.6 for the large maze's second episode.
    "large": {"length": (180.1, 151.8), "length_error": (6.0, 5.9), "success": (0.971, 0.967),
              "improved": 0.714},
}
#: the paper's two maze sizes (3 × 3 and 5 × 5 rooms) as the course names them
#: (`envs.maze.MAZE_SIZES`); the course's own "small" and "large" are larger mazes
TABLE3_COURSE_SIZES = {"small": "paper-small", "large": "paper-large"}


def table3_for_size(size: str) -> dict | None:
    """The paper's Table 3 numbers for the course's maze ``size``, None for a size the paper
    did not play."""
    return next((TABLE3[paper] for paper, ours in TABLE3_COURSE_SIZES.items() if ours == size), None)
