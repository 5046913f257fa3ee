"""Figures and tables the chapters share (matplotlib only; no pandas).

* `plot_trial` — one bandit trial step by step: the arm pulled, the reward, the done flag;
* `plot_trial_inputs` — the RL² input vectors x_t of one trial as a heat map;
* `plot_regret_curves` — expected cumulative regret against pulls, one line per agent;
* `plot_learning_curve` — an RL² training log: mean trial return per PPO update, against
  reference values such as the Bayes-optimal and random agents';
* `results_table` — a Table-1-style text (or markdown) table of mean ± stderr per agent and
  setting, with the paper's numbers beside ours when given.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from rl2_course.envs.trial import TrialInputLayout

#: one colour per agent, stable across chapters (matplotlib's tab10 order)
AGENT_COLORS = {
    "random": "tab:gray", "greedy": "tab:brown", "epsilon-greedy": "tab:orange",
    "ucb1": "tab:green", "thompson": "tab:blue", "optimistic-thompson": "tab:cyan",
    "gittins": "tab:purple", "bayes-optimal": "black", "rl2": "tab:red",
}

#: colours for agents not in AGENT_COLORS (a learner's own, a variant), drawn dashed
_OTHER_COLORS = ["tab:pink", "tab:olive", "darkred", "navy", "darkgreen"]

Setting = tuple[int, int]           # (k arms, n pulls)
Numbers = Mapping[str, float | tuple[float, float]]


def _axes(ax=None, **subplots):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    return plt.subplots(**subplots)


def plot_trial(record, arm_means: np.ndarray | None = None, trial: int = 0, axes=None):
    """Draw trial ``trial`` of a `TrialRecord` from a bandit: three panels sharing the time axis.

    Top: the arm pulled at every step (filled marker = reward 1, hollow = reward 0); with
    ``arm_means`` ((B, k) or (k,)) each arm is labelled with its mean and the best arm's row is
    shaded. Middle: the reward r_t. Bottom: the done flag d_t. At step t + 1 the RL² policy
    sees exactly (a_t, r_t, d_t) from these panels. Returns the figure.
    """
    import matplotlib.pyplot as plt

    actions = np.asarray(record.actions)[trial]
    rewards = np.asarray(record.rewards)[trial]
    dones = np.asarray(record.episode_done)[trial].astype(float)
    steps = np.arange(len(actions))
    if axes is None:
        fig, axes = plt.subplots(3, 1, sharex=True, figsize=(8, 4.5),
                                 gridspec_kw={"height_ratios": [3, 1, 1]})
    fig = axes[0].figure
    top, mid, bottom = axes

    means = None if arm_means is None else np.asarray(arm_means)
    if means is not None and means.ndim == 2:
        means = means[trial]
    arms = int(max(actions.max() + 1, 0 if means is None else len(means)))
    won = rewards > 0
    top.scatter(steps[won], actions[won], marker="o", color="tab:blue", label="reward 1", zorder=3)
    top.scatter(steps[~won], actions[~won], marker="o", facecolors="none", edgecolors="tab:blue",
                label="reward 0", zorder=3)
    top.set_yticks(range(arms))
    if means is not None:
        top.set_yticklabels([f"arm {a}  (p={m:.2f})" for a, m in enumerate(means)])
        top.axhspan(means.argmax() - 0.4, means.argmax() + 0.4, color="gold", alpha=0.3,
                    label="best arm")
    top.set_ylim(-0.6, arms - 0.4)
    top.set_ylabel("arm pulled $a_t$")
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    mid.vlines(steps, 0, rewards, color="tab:green")
    mid.plot(steps, rewards, "o", color="tab:green", markersize=3)
    mid.set_ylim(-0.1, 1.2)
    mid.set_ylabel("$r_t$")
    bottom.vlines(steps, 0, dones, color="tab:red")
    bottom.plot(steps, dones, "o", color="tab:red", markersize=3)
    bottom.set_ylim(-0.1, 1.2)
    bottom.set_ylabel("$d_t$")
    bottom.set_xlabel("step t within the trial")
    fig.tight_layout()
    return fig


def trial_input_labels(layout: TrialInputLayout) -> list[str]:
    """Names of the entries of x_t in ``layout`` order: s…, a=0…, r, d."""
    obs = ["s"] if layout.observation_size == 1 else [f"s[{i}]" for i in range(layout.observation_size)]
    return obs + [f"a={a}" for a in range(layout.num_actions)] + ["r", "d"]


def plot_trial_inputs(inputs: np.ndarray, layout: TrialInputLayout, ax=None, title: str | None = None):
    """Heat map of one trial's RL² inputs: ``inputs`` (T, D), one column per step t.

    Each column is x_t = [s_t | one-hot a_{t-1} | r_{t-1} | d_{t-1}], labelled row by row.
    Returns the axes.
    """
    inputs = np.asarray(inputs)
    if inputs.ndim != 2 or inputs.shape[1] != layout.size:
        raise ValueError(f"expected inputs of shape (T, {layout.size}), got {inputs.shape}")
    fig, ax = _axes(ax, figsize=(min(12, 2 + 0.35 * len(inputs)), 0.35 * layout.size + 1.2))
    ax.imshow(inputs.T, aspect="auto", cmap="Greys", vmin=0, vmax=max(1.0, inputs.max()),
              interpolation="nearest")
    ax.set_yticks(range(layout.size))
    ax.set_yticklabels(trial_input_labels(layout))
    ax.set_xticks(range(len(inputs)))
    ax.set_xlabel("step t")
    for edge in np.cumsum([layout.observation_size, layout.num_actions, 1])[:3] - 0.5:
        ax.axhline(edge, color="tab:red", linewidth=0.8)
    if title:
        ax.set_title(title)
    return ax


def plot_regret_curves(curves: Mapping[str, np.ndarray], ax=None, title: str | None = None,
                       log_x: bool = False):
    """Expected cumulative regret after each pull, one line per agent (``{name: (n,)}``).

    Flat curves have stopped paying for exploration; a curve that keeps rising linearly never
    settles on the best arm. Returns the axes.
    """
    fig, ax = _axes(ax, figsize=(6, 4))
    others = iter(_OTHER_COLORS * len(curves))
    for name, curve in curves.items():
        curve = np.asarray(curve)
        known = name in AGENT_COLORS
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name,
                color=AGENT_COLORS[name] if known else next(others),
                linestyle="-" if known and name != "bayes-optimal" else "--")
    ax.set_xlabel("pulls so far")
    ax.set_ylabel("expected cumulative regret")
    if log_x:
        ax.set_xscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def plot_learning_curve(log, references: Mapping[str, float] | None = None, ax=None,
                        title: str | None = None, show_entropy: bool = False):
    """Mean trial return of every PPO update in a training log, with horizontal reference lines.

    ``log`` is the dict of columns `rl2_course.runs.read_log` returns, or the path of a
    ``log.csv``. ``references`` maps a label to a value drawn as a horizontal line (an agent's
    name from `AGENT_COLORS`, e.g. ``{"bayes-optimal": 6.66, "random": 5.0}``, gets that agent's
    colour). With ``show_entropy`` the policy's mean entropy is drawn on a second y axis.
    Returns the axes of the return curve.
    """
    if not isinstance(log, Mapping):
        from rl2_course.runs import read_log

        log = read_log(log)
    updates = np.asarray(log["update"])
    returns = np.asarray(log["mean_return"])
    fig, ax = _axes(ax, figsize=(7, 4))
    ax.plot(updates, returns, color=AGENT_COLORS["rl2"], linewidth=1.2,
            label="RL² (mean return of the update's trials)")
    others = iter(_OTHER_COLORS * max(1, len(references or {})))
    for label, value in (references or {}).items():
        ax.axhline(value, color=AGENT_COLORS.get(label) or next(others), linestyle="--",
                   linewidth=1, label=f"{label} ({value:.2f})")
    shown = np.concatenate([returns, list((references or {}).values())])
    pad = 0.05 * max(float(np.ptp(shown)), 1e-6)
    ax.set_ylim(shown.min() - pad, shown.max() + pad)
    ax.set_xlabel("PPO update")
    ax.set_ylabel("mean total reward per trial")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if show_entropy and "entropy" in log:
        twin = ax.twinx()
        twin.plot(updates, np.asarray(log["entropy"]), color="tab:gray", linestyle=":",
                  label="policy entropy (right axis)")
        twin.set_ylabel("entropy of π (nats)")
        twin.set_ylim(bottom=0)
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize="small", loc="center right")
    if title:
        ax.set_title(title)
    return ax


def results_table(results: Mapping[Setting, Numbers] | Sequence, agents: Sequence[str] | None = None,
                  paper: Mapping[Setting, Mapping[str, float]] | None = None, *, digits: int = 2,
                  markdown: bool = False, missing: str = "—") -> str:
    """A Table-1-style table: one row per agent, one column per setting (k, n).

    ``results`` maps ``(k, n)`` to ``{agent: (mean, stderr)}`` (or ``{agent: mean}``), or is a
    sequence of `rl2_course.evaluate.Evaluation` objects. With ``paper`` (same keys, plain
    numbers) every setting gets a second column of the paper's numbers. Agents a setting lacks
    show ``missing``. Plain text by default; ``markdown=True`` gives a pipe table for
    ``IPython.display.Markdown``.
    """
    table = _as_numbers(results)
    settings = list(table)
    if agents is None:
        agents = list(dict.fromkeys(a for s in settings for a in table[s]))
    paper = paper or {}
    with_paper = [s for s in settings if paper.get(s)]

    header = ["agent"]
    for s in settings:
        header.append(f"k={s[0]}, n={s[1]}")
        if s in with_paper:
            header.append("paper")
    rows = []
    for agent in agents:
        row = [agent]
        for s in settings:
            value = table[s].get(agent)
            if value is None:
                row.append(missing)
            elif isinstance(value, tuple):
                row.append(f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}")
            else:
                row.append(f"{value:.{digits}f}")
            if s in with_paper:
                p = paper[s].get(agent)
                row.append(missing if p is None else f"{p:.{digits}f}")
        rows.append(row)

    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)        # noqa: E731
                              for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def _as_numbers(results) -> dict[Setting, dict[str, float | tuple[float, float]]]:
    if isinstance(results, Mapping):
        return {tuple(k): dict(v) for k, v in results.items()}
    table: dict[Setting, dict] = {}
    for ev in results:                          # Evaluation objects
        key = (int(ev.setting["arms"]), int(ev.setting["episodes"]))
        table.setdefault(key, {}).update({n: (r.mean, r.stderr) for n, r in ev.results.items()})
    return table
