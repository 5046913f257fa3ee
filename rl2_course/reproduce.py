"""Reproduce the paper's result tables with our code, printed beside the published numbers.

    python -m rl2_course reproduce table1 [--quick] [--trials T] [--seed S] [--out DIR]
    python -m rl2_course reproduce table2 [--quick] [--trials T] [--seed S] [--out DIR]

Every agent of a row meets the same sampled tasks (bandits, MDPs) (common random numbers), so within a
row we can say which agents are *not significantly different* from the best one: those whose
paired difference to the best is within two standard errors of that difference. They are
marked in bold, as the paper marks them (the paper used a t-test on independent samples).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl2_course import paper
from rl2_course.errors import UsageError, writable_directory
from rl2_course.evaluate import Evaluation, evaluate_bandit, make_bandit_agent

#: the paper's grid, in its row order (n, k)
TABLE1_SETTINGS: tuple[tuple[int, int], ...] = tuple(paper.TABLE1)
#: column order: the paper's, then our exact Bayes-optimal ceiling where it is computable
TABLE1_AGENTS = (*paper.TABLE1_COLUMNS, "bayes-optimal")
COLUMN_TITLES = {"random": "Random", "gittins": "Gittins", "thompson": "TS",
                 "optimistic-thompson": "OTS", "ucb1": "UCB1", "epsilon-greedy": "ε-Greedy",
                 "greedy": "Greedy", "rl2": "RL²", "bayes-optimal": "Bayes-optimal"}
#: trials per row with --quick: enough for a sanity check within two minutes on 2 cores
QUICK_TRIALS = {10: 2000, 100: 300, 500: 60}


#: Table 2's rows (n episodes of tabular MDPs) and columns, as the paper orders them
TABLE2_SETTINGS: tuple[int, ...] = tuple(paper.TABLE2)
TABLE2_AGENTS = paper.TABLE2_COLUMNS
TABLE2_TITLES = {"random": "Random", "psrl": "PSRL", "opsrl": "OPSRL", "ucrl2": "UCRL2", "beb": "BEB",
                 "epsilon-greedy": "ε-Greedy", "greedy": "Greedy", "rl2": "RL²"}
#: trials per row of Table 2 with --quick (n=100 costs ~10× n=10 per trial)
QUICK_TRIALS_MDP = {10: 500, 25: 200, 50: 100, 75: 60, 100: 50}


@dataclass
class TableRow:
    episodes: int
    arms: int | None               # None for MDPs (always the paper's 10 states, 5 actions)
    evaluation: Evaluation
    missing: dict[str, str] = field(default_factory=dict)   # agent -> why it has no number

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


def reproduce_table1(trials: int | None = None, seed: int = 0, quick: bool = False,
                     settings=TABLE1_SETTINGS, progress: bool | None = None) -> list[TableRow]:
    """Evaluate every Table 1 agent that exists for each (n, k), on shared tasks per row."""
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    rows = []
    for n, k in settings:
        count = trials or (QUICK_TRIALS[n] if quick else 1000)
        agents, missing = [], {}
        for name in TABLE1_AGENTS:
            try:
                agents.append(make_bandit_agent(name, k, n))
            except UsageError as err:     # no checkpoint yet, or a DP too large to solve
                missing[name] = str(err)
        rows.append(TableRow(n, k, evaluate_bandit(k, n, agents, count, seed, progress=progress),
                             missing))
    return rows


def reproduce_table2(trials: int | None = None, seed: int = 0, quick: bool = False,
                     settings=TABLE2_SETTINGS, progress: bool | None = None) -> list[TableRow]:
    """Evaluate every Table 2 agent that exists for each n, on shared MDPs per row."""
    from rl2_course.evaluate_mdp import evaluate_mdp, make_mdp_agent

    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    rows = []
    for n in settings:
        count = trials or (QUICK_TRIALS_MDP[n] if quick else 1000)
        agents, missing = [], {}
        for name in TABLE2_AGENTS:
            try:
                agents.append(make_mdp_agent(name, n))
            except UsageError as err:     # no RL² checkpoint for this n yet
                missing[name] = str(err)
        rows.append(TableRow(n, None, evaluate_mdp(n, agents, count, seed, progress=progress), missing))
    return rows


def table1_markdown(rows: list[TableRow]) -> str:
    return _markdown(rows, TABLE1_AGENTS, COLUMN_TITLES,
                     lambda row: paper.TABLE1.get((row.episodes, row.arms), {}),
                     lambda row: f"n={row.episodes}, k={row.arms}",
                     "—: no number (no RL² checkpoint for that setting yet, or a Bayes-optimal DP "
                     "too large to compute).")


def table2_markdown(rows: list[TableRow]) -> str:
    return _markdown(rows, TABLE2_AGENTS, TABLE2_TITLES, lambda row: paper.TABLE2.get(row.episodes, {}),
                     lambda row: f"n={row.episodes}",
                     "—: no number (no RL² checkpoint for that setting yet).")


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
            cells.append((f"**{text}**" if agent in bold else text) + ref)
        lines.append(f"| {label(row)} | {row.evaluation.trials} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean total reward ± standard error; in parentheses the paper's number "
                 f"({paper.CITATION}, 1000 trials, no error bars). Bold: not significantly "
                 f"different from the row's best (paired difference within 2 standard errors). "
                 + missing_note)
    return "\n".join(lines)


def table2_json(rows: list[TableRow], seed: int) -> dict:
    return {"table": "table2", "seed": seed, "rows": [
        {"episodes": r.episodes, "trials": r.evaluation.trials,
         "results": r.evaluation.to_json()["results"], "paper": paper.TABLE2.get(r.episodes, {}),
         "missing": r.missing} for r in rows]}


def table1_json(rows: list[TableRow], seed: int) -> dict:
    return {"table": "table1", "seed": seed, "rows": [
        {"episodes": r.episodes, "arms": r.arms, "trials": r.evaluation.trials,
         "results": r.evaluation.to_json()["results"],
         "paper": paper.TABLE1.get((r.episodes, r.arms), {}), "missing": r.missing}
        for r in rows]}


def write_outputs(out_dir: Path, name: str, markdown: str, data: dict) -> list[Path]:
    """Write DIR/NAME.md and DIR/NAME.json atomically; refuse an unusable directory clearly."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output directory {out_dir}: {err.strerror}") from None
    paths = []
    for suffix, text in ((".md", markdown + "\n"), (".json", json.dumps(data, indent=2) + "\n")):
        path = out_dir / f"{name}{suffix}"
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror}") from None
        paths.append(path)
    return paths


def run_table1(trials: int | None, seed: int, quick: bool, out_dir: Path) -> str:
    return run_table("table1", trials, seed, quick, out_dir)


def run_table(table: str, trials: int | None, seed: int, quick: bool, out_dir: Path) -> str:
    """Reproduce ``table`` ('table1' or 'table2'), write DIR/TABLE.md and .json, return the markdown."""
    reproduce, markdown_of, json_of = {
        "table1": (reproduce_table1, table1_markdown, table1_json),
        "table2": (reproduce_table2, table2_markdown, table2_json)}[table]
    writable_directory(out_dir, "--out")      # before minutes of evaluation, not after
    start = time.perf_counter()
    rows = reproduce(trials, seed, quick)
    markdown = markdown_of(rows)
    data = json_of(rows, seed)
    data["wall_seconds"] = round(time.perf_counter() - start, 1)
    paths = write_outputs(out_dir, table, markdown, data)
    return markdown + f"\n\n({data['wall_seconds']} s; wrote {', '.join(map(str, paths))})"
