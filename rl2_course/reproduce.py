"""Reproduce the paper's result tables with our code, printed beside the published numbers.

    python -m rl2_course reproduce table1 [--quick] [--trials T] [--seed S] [--out DIR]
    python -m rl2_course reproduce table2 [--quick] [--trials T] [--seed S] [--out DIR]
    python -m rl2_course reproduce table3 [--quick] [--trials T] [--seed S] [--out DIR]

Every agent of a row meets the same sampled tasks (bandits, MDPs) (common random numbers), so within a
row we can say which agents are *not significantly different* from the best one: those whose
paired difference to the best is within two standard errors of that difference. They are
marked in bold, as the paper marks them (the paper used a t-test on independent samples).

Table 3 (the ViZDoom mazes) has no such ranking: it reports, per maze size, how long the
successful episodes 1 and 2 are, how often each succeeds and how often episode 2 is shorter,
for the random agent, RL² and RL² with its memory wiped when episode 2 begins, under both
start protocols (`envs.maze.START_PROTOCOLS`): the paper's "same" first, with the paper's RL²
in a row of its own, then "random". Each RL² row says which protocol its agent was trained
on: the shipped ``maze-SIZE.pt`` learned "random"; an agent trained on "same" is read from
``maze-SIZE-same.pt`` when that file exists.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl2_course import paper
from rl2_course.errors import UsageError, writable_directory
from rl2_course.evaluate import (Evaluation, check_bandit_evaluation_fits, evaluate_bandit,
                                 make_bandit_agent)
from rl2_course.evaluate_maze import (MazeEvaluation, MazeMetrics, check_maze_evaluation_fits,
                                      evaluate_maze, make_maze_agent)
from rl2_course.files import atomic_write_text, json_safe
from rl2_course.limits import check_seed
from rl2_course.settings import MAZE_SETTINGS

#: the paper's grid, in its row order (n, k)
TABLE1_SETTINGS: tuple[tuple[int, int], ...] = tuple(paper.TABLE1)
#: column order: the paper's, RL² with the attention memory (no paper number), then our exact
#: Bayes-optimal ceiling where it is computable
TABLE1_AGENTS = (*paper.TABLE1_COLUMNS, "rl2-attention", "bayes-optimal")
COLUMN_TITLES = {"random": "Random", "gittins": "Gittins", "thompson": "TS",
                 "optimistic-thompson": "OTS", "ucb1": "UCB1", "epsilon-greedy": "ε-Greedy",
                 "greedy": "Greedy", "rl2": "RL² (GRU)", "rl2-attention": "RL² (attention)",
                 "bayes-optimal": "Bayes-optimal"}
#: trials per row with --quick: enough for a sanity check within two minutes on 2 cores
QUICK_TRIALS = {10: 2000, 100: 300, 500: 60}


#: Table 2's rows (n episodes of tabular MDPs) and columns, as the paper orders them
TABLE2_SETTINGS: tuple[int, ...] = tuple(paper.TABLE2)
#: beside the paper's columns, RL² with the attention memory (`agents.attention`): the paper
#: has no such column, so its cells carry no paper number
TABLE2_AGENTS = (*paper.TABLE2_COLUMNS, "rl2-attention")
TABLE2_TITLES = {"random": "Random", "psrl": "PSRL", "opsrl": "OPSRL", "ucrl2": "UCRL2", "beb": "BEB",
                 "epsilon-greedy": "ε-Greedy", "greedy": "Greedy", "rl2": "RL² (GRU)",
                 "rl2-attention": "RL² (attention)"}
#: trials per row of Table 2 with --quick (n=100 costs ~10× n=10 per trial)
QUICK_TRIALS_MDP = {10: 500, 25: 200, 50: 100, 75: 60, 100: 50}

#: Table 3's maze sizes: the paper's two (beside its numbers), then the course's larger first ones
TABLE3_SETTINGS: tuple[str, ...] = (*paper.TABLE3_COURSE_SIZES.values(), "small", "large")
#: the start protocols Table 3 is played under, the paper's ("same") first: its main rows
TABLE3_STARTS: tuple[str, ...] = ("same", "random")
#: the agents of one RL² network: intact, and with its memory wiped when episode 2 begins
TABLE3_RL2_AGENTS = ("rl2", "rl2-forgetful")
TABLE3_AGENTS = ("random", *TABLE3_RL2_AGENTS)
TABLE3_TITLES = {"random": "Random", "rl2": "RL²", "rl2-forgetful": "RL², memory wiped at episode 2"}
TABLE3_STARTS_TITLES = {
    "same": "Same starts (the paper's protocol): both episodes of a trial begin at one random "
            "cell and heading",
    "random": "Random starts (the course's first protocol): every episode begins at a fresh "
              "random cell and heading"}
#: trials per maze size and protocol with --quick: a random agent's trial is up to 1,000
#: (small) or 3,000 (large) decisions, about 2,500 a second with rendering, so both sizes
#: under both protocols take several minutes
QUICK_TRIALS_MAZE = {"small": 64, "large": 32, "paper-small": 64, "paper-large": 32}


@dataclass
class TableRow:
    episodes: int
    arms: int | None               # None for MDPs (always the paper's 10 states, 5 actions)
    evaluation: Evaluation
    missing: dict[str, str] = field(default_factory=dict)   # agent -> why it has no number
    # agent -> the episodes per trial it was trained on, where that is fewer than the row's
    # (an agent made for longer trials by `export --episodes`, with no training there)
    trained_episodes: dict[str, int] = field(default_factory=dict)

    def not_worse(self) -> set[str]:
        """Agents whose paired difference to the row's best is within 2 standard errors."""
        results = self.evaluation.results
        best = max(results, key=lambda a: results[a].mean)
        out = set()
        for name, r in results.items():
            diff = results[best].returns - r.returns
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
            if diff.mean() <= 2 * se:
                out.add(name)
        return out


def available_agents(names, make) -> tuple[list, dict[str, str]]:
    """The agents ``make(name)`` can build, and for the others why not (no checkpoint yet, a
    DP too large to solve): a table shows those as "—" instead of failing the whole row."""
    agents, missing = [], {}
    for name in names:
        try:
            agents.append(make(name))
        except UsageError as err:
            missing[name] = str(err)
    return agents, missing


def shorter_trials(agents: list, episodes: int) -> dict[str, int]:
    """Agent name -> episodes per trial it was trained on, for the RL² agents whose file was
    made for trials of ``episodes`` without training on trials that long
    (`RL2Agent.trained_episodes`)."""
    return {a.name: a.trained_episodes for a in agents
            if (getattr(a, "trained_episodes", None) or episodes) < episodes}


def _check_trials(trials: int | None) -> None:
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")


def _check_rows_fit(table: str, trials: int | None, quick: bool, settings=None) -> None:
    """Refuse, before the first row runs (and before --out is created), a table whose largest
    row would not fit in memory: a row found too large after minutes of the others is too late."""
    from rl2_course.evaluate_mdp import check_mdp_evaluation_fits

    if table == "table1":
        for n, k in TABLE1_SETTINGS if settings is None else settings:
            check_bandit_evaluation_fits(k, n, trials or (QUICK_TRIALS[n] if quick else 1000),
                                         TABLE1_AGENTS)
    elif table == "table2":
        for n in TABLE2_SETTINGS if settings is None else settings:
            check_mdp_evaluation_fits(n, trials or (QUICK_TRIALS_MDP[n] if quick else 1000),
                                      TABLE2_AGENTS)
    else:
        for size in TABLE3_SETTINGS if settings is None else settings:
            check_maze_evaluation_fits(size, trials or (QUICK_TRIALS_MAZE[size] if quick else 1000),
                                       TABLE3_AGENTS)      # one evaluation holds at most these


def reproduce_table1(trials: int | None = None, seed: int = 0, quick: bool = False,
                     settings=TABLE1_SETTINGS, progress: bool | None = None) -> list[TableRow]:
    """Evaluate every Table 1 agent that exists for each (n, k), on shared tasks per row."""
    _check_trials(trials)
    _check_rows_fit("table1", trials, quick, settings)
    rows = []
    for n, k in settings:
        count = trials or (QUICK_TRIALS[n] if quick else 1000)
        agents, missing = available_agents(TABLE1_AGENTS, lambda name: make_bandit_agent(name, k, n))
        rows.append(TableRow(n, k, evaluate_bandit(k, n, agents, count, seed, progress=progress),
                             missing, shorter_trials(agents, n)))
    return rows


def reproduce_table2(trials: int | None = None, seed: int = 0, quick: bool = False,
                     settings=TABLE2_SETTINGS, progress: bool | None = None) -> list[TableRow]:
    """Evaluate every Table 2 agent that exists for each n, on shared MDPs per row."""
    from rl2_course.evaluate_mdp import evaluate_mdp, make_mdp_agent

    _check_trials(trials)
    _check_rows_fit("table2", trials, quick, settings)
    rows = []
    for n in settings:
        count = trials or (QUICK_TRIALS_MDP[n] if quick else 1000)
        agents, missing = available_agents(TABLE2_AGENTS, lambda name: make_mdp_agent(name, n))
        rows.append(TableRow(n, None, evaluate_mdp(n, agents, count, seed, progress=progress),
                             missing, shorter_trials(agents, n)))
    return rows


def table1_markdown(rows: list[TableRow]) -> str:
    return _markdown(rows, TABLE1_AGENTS, COLUMN_TITLES,
                     lambda row: paper.TABLE1.get((row.episodes, row.arms), {}),
                     lambda row: f"n={row.episodes}, k={row.arms}",
                     "RL² (GRU) is the paper's network; RL² (attention) the same slow RL and "
                     "inputs with a causal-attention memory (no paper number: the paper has no "
                     "such agent). —: no number (no checkpoint for that setting yet, or a "
                     "Bayes-optimal DP too large to compute).")


def table2_markdown(rows: list[TableRow]) -> str:
    return _markdown(rows, TABLE2_AGENTS, TABLE2_TITLES, lambda row: paper.TABLE2.get(row.episodes, {}),
                     lambda row: f"n={row.episodes}",
                     "RL² (GRU) is the paper's network; RL² (attention) the same slow RL and "
                     "inputs with a causal-attention memory (no paper number: the paper has no "
                     "such agent). —: no number (no checkpoint for that setting yet).")


def _markdown(rows: list[TableRow], agents, titles: dict[str, str], published_for, label,
              missing_note: str) -> str:
    lines = ["| setup | trials | " + " | ".join(titles[a] for a in agents) + " |",
             "|---|---:|" + "---:|" * len(agents)]
    for row in rows:
        bold = row.not_worse()
        published_row = published_for(row)
        cells = []
        for agent in agents:
            published = published_row.get(agent)
            ref = f" ({published:g})" if published is not None else ""
            result = row.evaluation.results.get(agent)
            if result is None:
                cells.append(f"—{ref}")
                continue
            digits = 2 if result.mean < 10 else 1
            text = f"{result.mean:.{digits}f} ± {result.stderr:.{digits}f}"
            if agent in row.trained_episodes:
                text += f" †{row.trained_episodes[agent]}"
            cells.append((f"**{text}**" if agent in bold else text) + ref)
        lines.append(f"| {label(row)} | {row.evaluation.trials} | " + " | ".join(cells) + " |")
    lines.append("")
    shorter = ("†N: trained on trials of N episodes only, and played here unchanged (`export "
               "--episodes`: an attention memory's context grown, a GRU's weights copied). "
               if any(row.trained_episodes for row in rows) else "")
    lines.append(f"Mean total reward ± standard error; in parentheses the paper's number "
                 f"({paper.CITATION}, 1000 trials, no error bars). Bold: not significantly "
                 f"different from the row's best (paired difference within 2 standard errors). "
                 + shorter + missing_note)
    return "\n".join(lines)


def table2_json(rows: list[TableRow], seed: int) -> dict:
    return {"table": "table2", "seed": seed, "rows": [
        {"episodes": r.episodes, "trials": r.evaluation.trials,
         "results": r.evaluation.to_json()["results"], "paper": paper.TABLE2.get(r.episodes, {}),
         "missing": r.missing,
         "trained_episodes": r.trained_episodes} for r in rows]}


def table1_json(rows: list[TableRow], seed: int) -> dict:
    return {"table": "table1", "seed": seed, "rows": [
        {"episodes": r.episodes, "arms": r.arms, "trials": r.evaluation.trials,
         "results": r.evaluation.to_json()["results"],
         "paper": paper.TABLE1.get((r.episodes, r.arms), {}), "missing": r.missing,
         "trained_episodes": r.trained_episodes}
        for r in rows]}


@dataclass
class MazeTableEntry:
    """One agent of Table 3 under one protocol: ``learned`` is the start protocol an RL² agent
    was trained on (None for the random agent); ``metrics`` None: no such agent (yet);
    ``aids``: the privileged training signals its checkpoint records (`signals.privileged_aids`);
    ``trained_size``: the maze size it was trained on, where its file plays another one
    unchanged (`export --size`)."""

    agent: str
    learned: str | None
    metrics: MazeMetrics | None
    aids: tuple[str, ...] = ()
    trained_size: str | None = None


@dataclass
class MazeTableRow:
    """One maze size under one start protocol: its agents, and why an RL² agent trained on a
    protocol has no numbers (learned protocol -> reason)."""

    size: str
    starts: str
    trials: int
    entries: list[MazeTableEntry]
    missing: dict[str, str] = field(default_factory=dict)


def table3_rl2_agents(size: str, starts: str, learned: str) -> list:
    """``rl2`` and ``rl2-forgetful`` from the pretrained agent of ``size`` trained on ``learned``
    starts, to play ``starts``; a one-line `UsageError` when there is none."""
    from rl2_course.evaluate_maze import agents_trained_starts
    from rl2_course.settings import pretrained_maze_checkpoint

    path = pretrained_maze_checkpoint(size, learned)
    if not path.exists():
        raise UsageError(f"no {path.name} yet: no agent trained with {learned} starts")
    agents = [make_maze_agent(name, size, checkpoint=path, starts=starts, other_starts=True)
              for name in TABLE3_RL2_AGENTS]
    if agents_trained_starts(agents)["rl2"] != learned:
        raise UsageError(f"{path.name} was not trained with {learned} starts")
    return agents


def table3_training_aids(agents: list) -> tuple[str, ...]:
    """The privileged training signals the pretrained agents of one file (`table3_rl2_agents`)
    were trained with, read from the config their checkpoint records."""
    from rl2_course.signals import privileged_aids

    return privileged_aids(agents[0].training_config)


def table3_agent_title(entry: MazeTableEntry) -> str:
    """An agent's line title: RL² trained with privileged aids is labelled as such, never "RL²"."""
    title = TABLE3_TITLES[entry.agent]
    return title.replace("RL²", "RL² + privileged aids", 1) if entry.aids else title


def reproduce_table3(trials: int | None = None, seed: int = 0, quick: bool = False,
                     settings=TABLE3_SETTINGS, progress: bool | None = None,
                     starts: tuple[str, ...] = TABLE3_STARTS) -> list[MazeTableRow]:
    """Table 3's metrics in each maze size under each start protocol in ``starts``: the random
    agent, and per protocol an RL² agent was trained on (where its pretrained file exists)
    that agent intact and with its memory wiped. Every agent of a size meets the same mazes,
    targets and first starts; each agent group is one `evaluate_maze`, so each row is what
    ``evaluate maze --starts S --other-starts`` prints for its agents."""
    _check_trials(trials)
    _check_rows_fit("table3", trials, quick, settings)
    rows = []
    for size in settings:
        count = trials or (QUICK_TRIALS_MAZE[size] if quick else 1000)
        for protocol in starts:
            baseline = evaluate_maze(size, ["random"], count, seed, starts=protocol, progress=progress)
            entries = [MazeTableEntry("random", None, baseline.results["random"])]
            missing = {}
            for learned in TABLE3_STARTS:
                try:
                    agents = table3_rl2_agents(size, protocol, learned)
                except UsageError as err:
                    missing[learned] = str(err)
                    entries.append(MazeTableEntry("rl2", learned, None))
                    continue
                results = evaluate_maze(size, agents, count, seed, starts=protocol,
                                        other_starts=True, progress=progress).results
                aids = table3_training_aids(agents)
                entries += [MazeTableEntry(a.name, learned, results[a.name], aids, a.trained_size)
                            for a in agents]
            rows.append(MazeTableRow(size, protocol, count, entries, missing))
    return rows


#: Table 3's metrics, as columns
TABLE3_COLUMNS = ("length, episode 1", "length, episode 2", "success, episode 1",
                  "success, episode 2", "improved: episode 2 shorter")


def _percent(share: float) -> str:
    return f"{100 * share:.1f} %"


def _length_text(mean: float, stderr: float) -> str:
    if np.isnan(mean):
        return "none reached"
    return f"{mean:.1f}" if np.isnan(stderr) else f"{mean:.1f} ± {stderr:.1f}"


def _our_cells(metrics: MazeMetrics) -> list[str]:
    """One agent's Table 3 numbers, in the order of `TABLE3_COLUMNS`."""
    return ([_length_text(m, e) for m, e in zip(metrics.mean_length, metrics.length_stderr)]
            + [_percent(v) for v in metrics.success_rate] + [_percent(metrics.improved)])


def _paper_cells(published: dict) -> list[str]:
    """The paper's RL² numbers of Table 3, in the order of `TABLE3_COLUMNS`."""
    return ([f"{m:.1f} ± {e:.1f}" for m, e in zip(published["length"], published["length_error"])]
            + [_percent(v) for v in published["success"]] + [_percent(published["improved"])])


def table3_markdown(rows: list[MazeTableRow]) -> str:
    """Table 3 as one table per start protocol (the paper's "same" first), one line per agent
    and maze size with the paper's metrics as columns; under "same" the paper's RL² follows
    each size, in a line labelled as the paper's."""
    blocks = []
    for protocol in dict.fromkeys(row.starts for row in rows):
        lines = [f"**{TABLE3_STARTS_TITLES[protocol]}**", "",
                 "| maze | agent | trained on | trials | " + " | ".join(TABLE3_COLUMNS) + " |",
                 "|---|---|---|---:|" + "---:|" * len(TABLE3_COLUMNS)]
        for row in (r for r in rows if r.starts == protocol):
            for e in row.entries:
                learned = "—" if e.learned is None else f"{e.learned} starts"
                if e.trained_size is not None:
                    learned = f"{e.trained_size} mazes ‡, {learned}"
                learned += "".join(f"; {aid}" for aid in e.aids)
                cells = ["—"] * len(TABLE3_COLUMNS) if e.metrics is None else _our_cells(e.metrics)
                trials = "—" if e.metrics is None else str(row.trials)
                lines.append(f"| {row.size} | {table3_agent_title(e)} | {learned} | {trials} | "
                             + " | ".join(cells) + " |")
            published = paper.table3_for_size(row.size)
            if protocol == "same" and published is not None:
                lines.append(f"| {row.size} | RL², paper | same starts | — | "
                             + " | ".join(_paper_cells(published)) + " |")
        blocks.append("\n".join(lines))
    limits = ", ".join(f"{s.size} {s.time_limit}" for s in MAZE_SETTINGS.values())
    reasons = _missing_reasons(rows)
    paper_sizes = tuple(paper.TABLE3_COURSE_SIZES.values())
    other_sizes = tuple(s for s in MAZE_SETTINGS if s not in paper_sizes)
    blocks.append(
        f"Every agent of a maze size meets the same mazes, targets and first starts. \"trained "
        f"on\": the start protocol the RL² agent learned; it plays the other one only here and "
        f"with `evaluate maze --other-starts`. \"Memory wiped at episode 2\" is the same agent "
        f"with its memory erased when episode 2 begins (`rl2-forgetful`): what its memory is "
        f"worth. Length: mean decisions of the episodes that reached the target ± standard "
        f"error (failed episodes are left out, as in the paper); success: share of episodes "
        f"that reached the target within our time limit ({limits} decisions); improved: share "
        f"of trials whose second episode is shorter than the first (a failed episode counts as "
        f"the full limit). \"RL², paper\": the paper's numbers ({paper.CITATION}, Table 3), "
        f"not ours, beside the course's sizes that are its mazes ({_rooms(paper_sizes)}); the "
        f"course's {_rooms(other_sizes)} are larger mazes the paper did not play."
        + (f" —: no number ({'; '.join(reasons)})." if reasons else "")
        + (TABLE3_OTHER_SIZE_NOTE if any(e.trained_size for row in rows for e in row.entries)
           else "")
        + (TABLE3_AIDS_NOTE if any(e.aids for row in rows for e in row.entries) else ""))
    return "\n\n".join(blocks)


#: Table 3's footnote where an agent plays a maze size it was not trained on (`export --size`)
TABLE3_OTHER_SIZE_NOTE = (
    " ‡: trained on mazes of that size only, and played here unchanged (`export --size`: the "
    "weights copied, an attention context grown), as the paper's first author also played his "
    "small-maze agent on the large maze; never trained on this size.")

#: Table 3's footnote where an agent was trained with privileged aids (`signals.privileged_aids`)
TABLE3_AIDS_NOTE = (
    " \"RL² + privileged aids\": an RL² agent whose training, not its play, used what its policy "
    "never receives, listed after its protocol: an auxiliary head fitted to where on the maze's "
    "map the agent and the target are, reward shaping by the distance to the target, or a "
    "teacher who knows the maze (`rl2_course/signals.py`). Its checkpoint records the aids of "
    "its last run; a warm start inherits those of the runs before it (the shipped small agent's "
    "lineage also used reward shaping and a teacher: docs/maze.md). By the course's rule it is "
    "not shown as plain RL².")


def _rooms(sizes: tuple[str, ...]) -> str:
    """E.g. "`paper-small` 3 × 3 and `paper-large` 5 × 5 rooms"."""
    return " and ".join(f"`{s}` {MAZE_SETTINGS[s].cells} × {MAZE_SETTINGS[s].cells}"
                        for s in sizes) + " rooms"


def _missing_reasons(rows: list[MazeTableRow]) -> list[str]:
    """Why RL² rows have no numbers, each reason once, e.g. "no agent trained with same starts
    yet (maze-small-same.pt)"."""
    return list(dict.fromkeys(why for row in rows for why in row.missing.values()))


def table3_json(rows: list[MazeTableRow], seed: int) -> dict:
    return {"table": "table3", "seed": seed, "rows": [json_safe(
        {"size": r.size, "starts": r.starts, "cells": MAZE_SETTINGS[r.size].cells,
         "time_limit": MAZE_SETTINGS[r.size].time_limit, "trials": r.trials,
         "results": [{"agent": e.agent, "trained_starts": e.learned,
                      "privileged_aids": list(e.aids), "trained_size": e.trained_size,
                      "metrics": None if e.metrics is None else e.metrics.to_json()}
                     for e in r.entries],
         "paper": ({"rl2": published} if r.starts == "same"
                   and (published := paper.table3_for_size(r.size)) is not None else {}),
         "missing": r.missing}) for r in rows]}


def write_outputs(out_dir: Path, name: str, markdown: str, data: dict) -> list[Path]:
    """Write DIR/NAME.md and DIR/NAME.json atomically; refuse an unusable directory clearly."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {out_dir}: {err.strerror}") from None
    paths = []
    for suffix, text in ((".md", markdown + "\n"), (".json", json.dumps(data, indent=2) + "\n")):
        path = out_dir / f"{name}{suffix}"
        try:
            atomic_write_text(path, text)
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror}") from None
        paths.append(path)
    return paths


def run_table1(trials: int | None, seed: int, quick: bool, out_dir: Path) -> str:
    return run_table("table1", trials, seed, quick, out_dir)


def run_table(table: str, trials: int | None, seed: int, quick: bool, out_dir: Path) -> str:
    """Reproduce ``table`` ('table1', 'table2' or 'table3'), write DIR/TABLE.md and .json,
    return the markdown."""
    reproduce, markdown_of, json_of = {
        "table1": (reproduce_table1, table1_markdown, table1_json),
        "table2": (reproduce_table2, table2_markdown, table2_json),
        "table3": (reproduce_table3, table3_markdown, table3_json)}[table]
    # a wrong seed, trial count or size is refused before --out is created, and --out before
    # minutes of evaluation, not after
    check_seed(seed)
    _check_trials(trials)
    _check_rows_fit(table, trials, quick)
    writable_directory(out_dir, "--out")
    start = time.perf_counter()
    rows = reproduce(trials, seed, quick)
    markdown = markdown_of(rows)
    data = json_of(rows, seed)
    data["wall_seconds"] = round(time.perf_counter() - start, 1)
    paths = write_outputs(out_dir, table, markdown, data)
    return markdown + f"\n\n({data['wall_seconds']} s; wrote {', '.join(map(str, paths))})"
