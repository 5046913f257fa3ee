"""The bounds a request is checked against before any work starts: seeds, trial lengths and
the memory a size needs.

Why this module exists: numpy and torch notice a size that cannot fit only when they try to
allocate it, deep inside the work, with a traceback (``Unable to allocate 621. GiB``), or not
at all, when the machine's out-of-memory killer ends the process without a word. Every entry
point that allocates in proportion to what it was asked (trials, arms, pulls, episodes, GRU
units) first asks this module for an *estimate* of the memory it needs and refuses, in one
line (a `UsageError`: exit status 2 on the command line, a ``ValueError`` with the same words
from Python), when the estimate exceeds what the machine has available.

The estimates count the arrays that grow with the request; the per-element costs below were
measured (the growth of peak resident memory of real evaluations and one-update training runs
on the course's 2-core machine, torch 2.13 CPU) and rounded up. They are meant to tell an
impossible request from a possible one before anything is allocated, not to predict the last
megabyte: a request that passes can still be too large when other programs take the memory
in the meantime.

Nothing here imports numpy or torch, so the checks cost nothing and run first.
"""

from __future__ import annotations

import math
import os
import resource
from typing import Iterable, NamedTuple

from rl2_course.errors import UsageError

#: seeds are what numpy's SeedSequence and torch's generators both take without complaint
SEED_LIMIT = 2 ** 32

#: steps one trial may take in `rollout.run_trials`: a trial that has not ended by then is a bug
#: of the environment (it would otherwise loop forever), so longer trials are refused up front
MAX_TRIAL_STEPS = 1_000_000

#: assumed when the operating system does not say how much memory is available (no
#: /proc/meminfo, no sysconf): a small laptop's worth, so a real request is rarely refused
FALLBACK_MEMORY = 4 * 10 ** 9

# -- measured costs (peak RSS growth, rounded up) ------------------------------------------------
#: per task and arm of a bandit evaluation: the arm means, the baselines' counts (pulls,
#: successes) and the temporaries of their index (measured 42–70 B for random … optimistic TS)
BYTES_PER_TASK_ARM = 72
#: per task and step of any evaluation: the action, reward and done flag of every step, kept
#: as lists and stacked into the trial's record at the end (measured 33–40 B)
BYTES_PER_TASK_STEP = 40
#: per task of an RL² network's evaluation: its GRU state, input and outputs (measured about
#: 16 KB per task with 128 GRU units, including torch's own working memory)
BYTES_PER_NETWORK_TASK = 16_384
#: per MDP task: the environment's tables and a baseline's posterior (S, A, S) counts and its
#: temporaries (measured 17–30 KB at the paper's 10 states and 5 actions)
BYTES_PER_MDP_TASK = 32_768
#: per trial and agent of an evaluation: its return, and the copy that joins the chunks
BYTES_PER_RESULT = 16
#: per network parameter while training: the weight, its gradient, Adam's two moments and
#: the temporaries of Adam's step and of gradient clipping (measured about 24 B at 2,048 units)
BYTES_PER_TRAINED_PARAMETER = 24
#: per GRU unit, step and trial of the rollout: the states and outputs of every step, most of
#: them short-lived but not given back to the system at once (measured about 16 B)
BYTES_PER_ROLLOUT_UNIT = 16
#: per GRU unit, step and trial in a PPO minibatch: the activations kept for backpropagation
#: (the gates, the candidate and the state; measured 50–100 B with whole trials of 500 steps)
BYTES_PER_UNIT_STEP = 64
#: per attention unit, layer, step and trial in a PPO minibatch: the layer's activations kept
#: for backpropagation (norms, queries, keys, values, the read and the MLP's four-fold width;
#: torch's CPU attention kernel keeps no step-by-step score matrix). Measured 160–220 B from
#: the peak memory of one update of MDP n = 25 and n = 100 (H = 64, 2 layers, minibatches of 32
#: whole trials of 250 and 1,000 steps) less that of the interpreter with torch imported
BYTES_PER_ATTENTION_UNIT_STEP = 192


class MemoryLimit(NamedTuple):
    """How many bytes this process may still allocate, and what says so."""

    bytes: int
    source: str


def check_seed(seed: int, name: str = "seed") -> int:
    """``seed`` as an int, or a one-line `UsageError` when it is not a whole number in [0, 2³²).

    numpy's SeedSequence refuses negative seeds and torch's generators overflow beyond 64
    bits, each with a traceback from deep inside the work; this says it first, in words.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        try:
            if isinstance(seed, (bool, str)) or int(seed) != seed:   # 3.0 passes, True does not
                raise ValueError
            seed = int(seed)
        except (TypeError, ValueError, OverflowError):
            raise UsageError(f"{name} is a whole number in [0, 2**32), got {seed!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"{name} must lie in [0, 2**32), got {seed}")
    return seed


def memory_limit() -> MemoryLimit:
    """The memory this process may still allocate: the least of what the machine has available
    (``MemAvailable`` of /proc/meminfo, else ``sysconf``, else `FALLBACK_MEMORY`), what its
    cgroup still allows (containers, CI runners), and what its address-space limit (RLIMIT_AS,
    which the grader sets for a learner's notebook) leaves."""
    limits = [_machine_memory(), _cgroup_memory(), _address_space_left()]
    return min((limit for limit in limits if limit is not None), key=lambda limit: limit.bytes)


def available_memory() -> int:
    """Bytes this process may still allocate (`memory_limit`)."""
    return memory_limit().bytes


def check_memory(needed: int, request: str) -> None:
    """Refuse ``request`` (words that name it: "evaluating ucb1 on 1,000 bandit trials with
    k=1,000,000 arms") in one line when its estimated ``needed`` bytes exceed `memory_limit`."""
    limit = memory_limit()
    if needed > limit.bytes:
        raise UsageError(f"{request} needs about {_gigabytes(needed)} of memory, more than the "
                         f"{_gigabytes(limit.bytes)} {limit.source}; ask for less")


def check_trial_steps(steps: int, request: str) -> None:
    """Refuse a trial longer than `MAX_TRIAL_STEPS`, which `rollout.run_trials` would stop
    with an error only after playing a million steps."""
    if steps > MAX_TRIAL_STEPS:
        raise UsageError(f"{request}: a trial of {steps:,} steps is longer than the "
                         f"{MAX_TRIAL_STEPS:,} steps an evaluation plays; ask for shorter trials")


# -- estimates ---------------------------------------------------------------------------------

def evaluation_bytes(trials: int, chunk_trials: int, agents: int, steps_per_trial: int,
                     bytes_per_task: int, keep_records: bool = False) -> int:
    """Peak memory of `evaluate.evaluate_policies`: one chunk of tasks is stepped at a time
    (``bytes_per_task`` each: the environment and the agent's state), the steps of the chunk's
    trials are recorded, and every agent's return of every trial is kept; with
    ``keep_records`` every recorded step of every agent is kept as well."""
    chunk = min(int(trials), int(chunk_trials))
    work = chunk * (int(bytes_per_task) + int(steps_per_trial) * BYTES_PER_TASK_STEP)
    kept = int(trials) * int(agents) * BYTES_PER_RESULT
    if keep_records:
        kept += int(trials) * int(agents) * int(steps_per_trial) * BYTES_PER_TASK_STEP
    return work + kept


def bandit_evaluation_bytes(arms: int, episodes: int, trials: int, agents: Iterable[str], *,
                            chunk_trials: int, keep_records: bool = False) -> int:
    """`evaluation_bytes` of k = ``arms``, n = ``episodes`` bandits for the named ``agents``:
    per task the arm means and the baselines' counts (k of each), an RL² network's state when
    an ``rl2`` agent is among them, and the Gittins index table for n when ``gittins`` is."""
    names = list(agents)
    per_task = int(arms) * BYTES_PER_TASK_ARM
    if any(name.startswith("rl2") for name in names):
        per_task += BYTES_PER_NETWORK_TASK
    total = evaluation_bytes(trials, chunk_trials, len(names), episodes, per_task, keep_records)
    if keep_records:                       # the arm means of every trial, for regret curves
        total += int(trials) * int(arms) * 8
    if "gittins" in names:
        total += gittins_table_bytes(episodes)
    return total


def mdp_evaluation_bytes(episodes: int, trials: int, agents: Iterable[str], *, chunk_trials: int,
                         states: int, actions: int, horizon: int, keep_records: bool = False) -> int:
    """`evaluation_bytes` of random tabular MDPs, n = ``episodes`` episodes of ``horizon``
    steps: per task the (S, A, S) tables at the paper's size, scaled to ``states`` and
    ``actions``, and the baselines' plans, (horizon, S, A) values of a few kinds."""
    names = list(agents)
    tables = BYTES_PER_MDP_TASK * (int(states) ** 2 * int(actions)) // 500
    plans = 4 * int(horizon) * int(states) * int(actions) * 8
    per_task = max(BYTES_PER_MDP_TASK, tables) + plans
    if any(name.startswith("rl2") for name in names):
        per_task += BYTES_PER_NETWORK_TASK
    return evaluation_bytes(trials, chunk_trials, len(names), int(episodes) * int(horizon),
                            per_task, keep_records)


def gittins_table_bytes(horizon: int, grid_points: int | None = None) -> int:
    """The Gittins index table for ``horizon`` pulls (`baselines.gittins.GittinsTable`): the
    table itself, n(n+1)(n+2)/6 float32 values, and two (states × λ-grid) float32 working
    arrays while it is built (a 621 GiB table at n = 10,000)."""
    n = int(horizon)
    # `gittins.default_grid_points`, repeated here so that this module imports no numpy
    grid = (256 if n <= 250 else 128) if grid_points is None else int(grid_points)
    states = (n + 1) * (n + 2) // 2
    return 4 * (n * (n + 1) * (n + 2) // 6 + 2 * states * grid)


def network_parameters(input_size: int, hidden_size: int, actions: int, *, cores: int = 1,
                       extra_outputs: int = 0) -> int:
    """Parameters of a `RecurrentActorCritic` (about): ``cores`` GRUs of three gates over the
    input and the state (with biases, and a layer-normalised cell's gains), and the linear
    policy, value and auxiliary heads. The maze's CNN encoder is counted as the flat image it
    reads, which overestimates it."""
    H = int(hidden_size)
    core = 3 * H * (int(input_size) + H) + 12 * H
    outputs = int(actions) + 1 + int(extra_outputs)
    return int(cores) * core + (H + 1) * outputs


def training_bytes(*, input_size: int, actions: int, hidden_size: int, trials_per_update: int,
                   steps_per_trial: int, segment_length: int | None, minibatches: int,
                   minibatch_size: int | None, cores: int = 1, extra_outputs: int = 0,
                   attention: dict[str, int] | None = None) -> int:
    """Peak memory of one PPO update (`train.collect_trials` then `train.ppo_update`): the
    network with its gradients and Adam's moments, the batch of whole trials (every input
    and a few numbers per step, and its copy cut into BPTT segments), and the activations a
    minibatch keeps for backpropagation. ``attention`` is an attention core's shape
    (``context``, ``attention_layers``, ``attention_heads``; `runs.RunConfig.attention_shape`),
    None for a GRU: its state is a cache of keys and values over the whole context, and each
    layer keeps its activations for backpropagation."""
    H, B, T = int(hidden_size), int(trials_per_update), int(steps_per_trial)
    L = T if segment_length is None else min(int(segment_length), T)
    segments = math.ceil(T / L)
    columns = B * segments
    per_minibatch = (math.ceil(columns / max(1, int(minibatches))) if minibatch_size is None
                     else min(columns, int(minibatch_size)))
    per_step = 2 * (4 * int(input_size) + 4 * 10)
    head_activations = 6 * 4 * int(actions)
    if attention is None:
        network = BYTES_PER_TRAINED_PARAMETER * network_parameters(
            input_size, H, actions, cores=cores, extra_outputs=extra_outputs)
        # every step's input and ten numbers (action, log-probability, value, ...), in the
        # batch and in its copy cut into segments, and the rollout's GRU states
        batch = B * T * (per_step + H * BYTES_PER_ROLLOUT_UNIT) + B * segments * H * 4
        activations = per_minibatch * L * (int(cores) * H * BYTES_PER_UNIT_STEP + head_activations)
        return network + batch + activations
    layers, context = int(attention["attention_layers"]), int(attention["context"])
    network = BYTES_PER_TRAINED_PARAMETER * attention_parameters(
        input_size, H, actions, layers, context, cores=cores, extra_outputs=extra_outputs)
    state = 4 * (1 + int(input_size) + 2 * layers * context * H)
    # the rollout's caches and the copy recorded at each segment's start; a minibatch's
    # column states and the copy `forward` writes its new keys and values into
    batch = B * T * per_step + B * state + columns * state
    activations = (per_minibatch * L * (int(cores) * layers * H * BYTES_PER_ATTENTION_UNIT_STEP
                                        + head_activations) + 2 * per_minibatch * state)
    return network + batch + activations


def attention_parameters(input_size: int, hidden_size: int, actions: int, layers: int,
                         context: int, *, cores: int = 1, extra_outputs: int = 0) -> int:
    """Parameters of a `RecurrentActorCritic` on attention cores (about): per core the input
    projection of [x_t | x_{t−1}], a position embedding per context step, and per layer the
    queries, keys, values, output and a four-fold MLP; the same heads as `network_parameters`."""
    H = int(hidden_size)
    core = 2 * int(input_size) * H + int(context) * H + int(layers) * 12 * H * H
    outputs = int(actions) + 1 + int(extra_outputs)
    return int(cores) * core + (H + 1) * outputs


# -- where the limit comes from ------------------------------------------------------------------

def _machine_memory() -> MemoryLimit:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return MemoryLimit(int(line.split()[1]) * 1024, "this machine has available")
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if pages > 0:
            return MemoryLimit(pages, "this machine has free")
    except (ValueError, OSError, AttributeError):
        pass
    return MemoryLimit(FALLBACK_MEMORY, "assumed available (the system does not say)")


def _cgroup_memory() -> MemoryLimit | None:
    """What this process's memory cgroup (a container's, a CI runner's) still allows, when it
    sets a limit: the limit minus the memory in use, not counting the inactive file cache,
    which the kernel gives back on demand (cgroup v2, else v1)."""
    try:
        with open("/proc/self/cgroup") as cgroup:
            lines = [line.strip().split(":", 2) for line in cgroup if line.count(":") >= 2]
    except OSError:
        return None
    for hierarchy, controllers, path in lines:
        if hierarchy == "0" and controllers == "":                 # v2: the unified hierarchy
            found = _cgroup_numbers([os.path.join("/sys/fs/cgroup", path.lstrip("/"))],
                                    "memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):                   # v1: the memory controller
            found = _cgroup_numbers([os.path.join("/sys/fs/cgroup/memory", path.lstrip("/")),
                                     "/sys/fs/cgroup/memory"],     # a container sees its own as /
                                    "memory.limit_in_bytes", "memory.usage_in_bytes",
                                    "total_inactive_file")
        else:
            continue
        if found is not None:
            return found
    return None


def _cgroup_numbers(bases: list[str], limit_file: str, usage_file: str,
                    cache_key: str) -> MemoryLimit | None:
    for base in bases:
        try:
            with open(os.path.join(base, limit_file)) as limit_text:
                text = limit_text.read().strip()
            if text == "max" or int(text) >= 2 ** 60:              # no limit ("max", v1's ~2⁶³)
                return None
            with open(os.path.join(base, usage_file)) as usage_text:
                used = int(usage_text.read().strip())
            cache = 0
            with open(os.path.join(base, "memory.stat")) as stat:
                for line in stat:
                    key, _, value = line.partition(" ")
                    if key == cache_key:
                        cache = int(value)
            return MemoryLimit(max(0, int(text) - max(0, used - cache)),
                               "this process's cgroup still allows")
        except (OSError, ValueError):
            continue
    return None


def _address_space_left() -> MemoryLimit | None:
    """RLIMIT_AS minus the address space already mapped (/proc/self/statm), when it is set."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as statm:
            mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        mapped = 0
    return MemoryLimit(max(0, soft - mapped), "this process's address-space limit (RLIMIT_AS) leaves")


def _gigabytes(size: int) -> str:
    """'0.03 GB', '7.5 GB', '621 GB', '48,125 GB', '6.7e+17 GB': enough digits to compare."""
    gb = size / 1e9
    if gb < 0.05:
        return f"{gb:.2f} GB"
    if gb >= 1e7:                 # past ten petabytes the digits stop telling anything
        return f"{gb:.1e} GB"
    return f"{gb:,.1f} GB" if gb < 100 else f"{gb:,.0f} GB"


__all__ = ["FALLBACK_MEMORY", "MAX_TRIAL_STEPS", "MemoryLimit", "SEED_LIMIT",
           "attention_parameters", "available_memory", "bandit_evaluation_bytes", "check_memory",
           "check_seed", "check_trial_steps", "evaluation_bytes", "gittins_table_bytes",
           "mdp_evaluation_bytes", "memory_limit", "network_parameters", "training_bytes"]
