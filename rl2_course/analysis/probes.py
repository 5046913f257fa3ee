"""Linear probes: what can be read out of the GRU's hidden state with one matrix?

If RL²'s hidden state h_t is a learning algorithm's memory, it must hold what the learner knows
about the current bandit. The Bayesian answer to "what is known" after t pulls is the posterior
of every arm: Beta(1 + S_a, 1 + F_a), summed up by its mean (1 + S_a)/(2 + N_a) and its pull
count N_a. A **linear probe** asks whether these quantities are *linearly* decodable from h_t:

    ŷ = W·h + b,   W, b = argmin  Σ_i ‖y_i − W h_i − b‖² + α ‖W‖²     (ridge regression)

fitted in closed form on the states of some trials and scored on the states of *other* trials
(held-out R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)²). The same probe, fitted onto the (tie-shared) one-hot
code of the Bayes-optimal arms, predicts an action by argmax; its accuracy says whether the
*decision* of the planner is linearly present. The policy head itself is such a linear readout,
so its own argmax is reported beside it.

The control matters as much as the number: a recurrent network with random weights, fed the
very same inputs, also carries information about its past (a "reservoir"). Whatever the random
network's probe reaches, training did not put there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rl2_course.analysis.behaviour import optimal_arms
from rl2_course.analysis.recording import (BanditTrace, check_recording_fits, random_network_like,
                                          record_bandit_trials, replay)
from rl2_course.errors import UsageError
from rl2_course.evaluate import check_bandit_setting, make_bandit_agent
from rl2_course.limits import check_seed

#: ridge penalty α on standardised hidden units (small: thousands of samples, ≤ 128 features)
DEFAULT_ALPHA = 1.0
#: share of trials held out for scoring the probes
TEST_FRACTION = 0.25
#: fewest trials with which a train/test split by trial makes sense
MIN_TRIALS = 4


# --------------------------------------------------------------------------------------------
# Ridge regression, closed form
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RidgeFit:
    """A fitted linear map ŷ = X·weights + bias; weights (d, m), bias (m,)."""

    weights: np.ndarray
    bias: np.ndarray

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.weights + self.bias


def fit_ridge(X: np.ndarray, Y: np.ndarray, alpha: float = 0.0) -> RidgeFit:
    """Ridge regression in closed form, with an intercept that is not penalised.

    Centring X and Y removes the intercept from the problem; then W solves the normal equations
    (XcᵀXc + αI) W = XcᵀYc and b = ȳ − x̄ W. With α = 0 this is ordinary least squares (the
    solution of least norm when XcᵀXc is singular, as `np.linalg.lstsq` gives). ``Y`` may be
    (N,) or (N, m): each column gets its own probe.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.shape[0] != X.shape[0] or Y.ndim not in (1, 2):
        raise ValueError(f"expected X (N, d) and Y (N,) or (N, m), got {X.shape} and {Y.shape}")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - x_mean, Y - y_mean
    gram = Xc.T @ Xc + alpha * np.eye(X.shape[1])
    if alpha > 0:
        weights = np.linalg.solve(gram, Xc.T @ Yc)
    else:
        weights = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
    return RidgeFit(weights, y_mean - x_mean @ weights)


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """R² per column: 1 − Σ(y − ŷ)² / Σ(y − ȳ)²; 1 is perfect, 0 is "no better than the mean",
    negative is worse. NaN for a column that is constant (nothing to explain)."""
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    residual = ((y_true - y_pred) ** 2).sum(axis=0)
    total = ((y_true - y_true.mean(axis=0)) ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.nan)


@dataclass(frozen=True)
class LinearProbe:
    """Standardise the features (training mean and spread), then a ridge map: the same α means
    the same thing for a trained and a random network, whatever the scale of their units."""

    mean: np.ndarray
    scale: np.ndarray
    ridge: RidgeFit

    @classmethod
    def fit(cls, X: np.ndarray, Y: np.ndarray, alpha: float = DEFAULT_ALPHA) -> LinearProbe:
        X = np.asarray(X, dtype=np.float64)
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)            # a dead unit stays at 0
        return cls(mean, scale, fit_ridge((X - mean) / scale, Y, alpha))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.ridge.predict((np.asarray(X, dtype=np.float64) - self.mean) / self.scale)


# --------------------------------------------------------------------------------------------
# The probe experiment on a bandit agent
# --------------------------------------------------------------------------------------------

#: regression targets, in report order: name -> what it is
TARGETS = {"posterior_mean": "posterior mean of each arm",
           "pulls": "pull count N_a of each arm",
           "step": "pulls made so far, t"}


def probe_targets(trace: BanditTrace) -> dict[str, np.ndarray]:
    """The regression targets of every decision, each (B, n, m)."""
    return {"posterior_mean": trace.posterior_mean, "pulls": trace.pulls.astype(np.float64),
            "step": trace.step[..., None].astype(np.float64)}


@dataclass
class ProbeScores:
    """Held-out scores of one network's probes."""

    r2: dict[str, float]                     # target -> mean R² over its columns
    r2_per_column: dict[str, list[float]]
    action_accuracy: float                   # argmax of the action probe is a planner's arm
    predictions: dict[str, np.ndarray] = field(repr=False, default_factory=dict)   # held-out ŷ


@dataclass
class ProbeReport:
    """Probes on a trained RL² agent's states and on a random network's, same inputs."""

    arms: int
    episodes: int
    trials: int
    seed: int
    alpha: float
    planner: str                             # "bayes-optimal" or "gittins": the action target
    trained: ProbeScores
    random: ProbeScores
    policy_accuracy: float                   # the policy head's own argmax, same held-out steps
    chance_accuracy: float                   # a uniformly random arm
    test_trials: int
    targets: dict[str, np.ndarray] = field(repr=False, default_factory=dict)   # held-out y

    def to_json(self) -> dict:
        def scores(s: ProbeScores) -> dict:
            return {"r2": s.r2, "r2_per_column": s.r2_per_column, "action_accuracy": s.action_accuracy}
        return {"analysis": "probes", "env": "bandit", "arms": self.arms, "episodes": self.episodes,
                "trials": self.trials, "test_trials": self.test_trials, "seed": self.seed,
                "alpha": self.alpha, "action_target": self.planner, "trained": scores(self.trained),
                "random_network": scores(self.random), "policy_accuracy": self.policy_accuracy,
                "chance_accuracy": self.chance_accuracy}

    def table(self) -> str:
        lines = [f"{'held-out score':<46}{'trained GRU':>12}{'random GRU':>12}"]
        for name, what in TARGETS.items():
            lines.append(f"{'R²  ' + what:<46}{self.trained.r2[name]:>12.3f}{self.random.r2[name]:>12.3f}")
        lines.append(f"{f'accuracy: probe argmax is a {self.planner} arm':<46}"
                     f"{self.trained.action_accuracy:>12.1%}{self.random.action_accuracy:>12.1%}")
        lines.append(f"  (policy head's own argmax: {self.policy_accuracy:.1%}; a random arm: "
                     f"{self.chance_accuracy:.1%})")
        return "\n".join(lines)


def split_trials(trials: int, seed: int, test_fraction: float = TEST_FRACTION
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Train and test trial indices. Split by *trial*, never by step: the steps of one trial
    share a bandit, so a probe scored on its neighbours' steps would be flattered."""
    if trials < MIN_TRIALS:
        raise UsageError(f"--trials must be at least {MIN_TRIALS} to hold out some for the probes, "
                         f"got {trials}")
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5052])).permutation(trials)
    test = max(1, int(round(trials * test_fraction)))
    return np.sort(order[test:]), np.sort(order[:test])


def held_out_r2(features: np.ndarray, targets: np.ndarray, seed: int, *,
                where: np.ndarray | None = None, alpha: float = DEFAULT_ALPHA) -> np.ndarray:
    """R² per target column of a `LinearProbe` from per-step features to targets, scored on
    held-out trials: the probe of chapter 05 for any recorded trials (chapter 06 reads an MDP
    agent's reward estimates out of its memory with it).

    ``features`` (B, T, H) and ``targets`` (B, T, m) are trial-major; the trials are split by
    `split_trials(B, seed)`, the probe fitted on the train trials' steps and scored on the test
    trials'. ``where`` (B, T) bool keeps only some steps (say, those where the target means
    something), on both sides of the split.
    """
    features, targets = np.asarray(features), np.asarray(targets)
    if features.shape[:2] != targets.shape[:2] or features.ndim != 3 or targets.ndim != 3:
        raise ValueError(f"expected features (B, T, H) and targets (B, T, m) of the same trials, "
                         f"got {features.shape} and {targets.shape}")
    keep = np.ones(features.shape[:2], dtype=bool) if where is None else np.asarray(where, dtype=bool)
    train, test = split_trials(features.shape[0], seed)
    in_train = np.zeros_like(keep)
    in_train[train] = True
    in_test = np.zeros_like(keep)
    in_test[test] = True
    probe = LinearProbe.fit(features[keep & in_train], targets[keep & in_train], alpha)
    return r2_score(targets[keep & in_test], probe.predict(features[keep & in_test]))


def _score(hidden: np.ndarray, targets: dict[str, np.ndarray], optimal: np.ndarray,
           train: np.ndarray, test: np.ndarray, alpha: float) -> ProbeScores:
    """Fit every probe on the train trials' states, score on the test trials'."""
    def rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return a[idx].reshape(-1, a.shape[-1])

    h_train, h_test = rows(hidden, train), rows(hidden, test)
    r2, per_column, predictions = {}, {}, {}
    for name, y in targets.items():
        probe = LinearProbe.fit(h_train, rows(y, train), alpha)
        predictions[name] = probe.predict(h_test)
        scores = r2_score(rows(y, test), predictions[name])
        r2[name] = float(np.nanmean(scores))
        per_column[name] = [float(s) for s in scores]
    share = optimal / optimal.sum(axis=-1, keepdims=True)            # ties share the target
    action_probe = LinearProbe.fit(h_train, rows(share, train), alpha)
    choice = action_probe.predict(h_test).argmax(axis=-1)
    accuracy = float(rows(optimal, test)[np.arange(len(choice)), choice].mean())
    return ProbeScores(r2, per_column, accuracy, predictions)


def probe_bandit_agent(arms: int, episodes: int, trials: int, seed: int, *,
                       checkpoint: Path | None = None, alpha: float = DEFAULT_ALPHA) -> ProbeReport:
    """Record an RL² agent's GRU states over ``trials`` bandit trials and probe them.

    The agent (the pretrained one for (k, n), or ``checkpoint``) plays by sampling, as it is
    evaluated; its trials are split by trial into train and test sets; probes for the posterior
    means, pull counts, step and the planner's action are fitted on the train states and scored
    on the test states. A random network of the same architecture (seeded by ``seed``) reads
    the same inputs as the control. Deterministic for a given seed.
    """
    check_bandit_setting(arms, episodes, trials)
    if alpha < 0:
        raise UsageError(f"--alpha must be >= 0, got {alpha}")
    check_seed(seed)
    agent = make_bandit_agent("rl2", arms, episodes, checkpoint=checkpoint)
    check_recording_fits([agent], arms, episodes, trials)   # before the split allocates
    train, test = split_trials(trials, seed)
    trace = record_bandit_trials([agent], arms, episodes, trials, seed)[agent.name]
    optimal, planner = optimal_arms(trace)
    targets = probe_targets(trace)
    random_hidden = replay(random_network_like(agent.model, seed), trace.inputs())[0].transpose(1, 0, 2)
    trained = _score(trace.hidden, targets, optimal, train, test, alpha)
    random = _score(random_hidden, targets, optimal, train, test, alpha)
    test_optimal = optimal[test].reshape(-1, arms)
    policy_choice = trace.logits[test].reshape(-1, arms).argmax(axis=-1)
    return ProbeReport(
        arms, episodes, trials, seed, float(alpha), planner, trained, random,
        policy_accuracy=float(test_optimal[np.arange(len(policy_choice)), policy_choice].mean()),
        chance_accuracy=float(test_optimal.mean()), test_trials=len(test),
        targets={name: y[test].reshape(-1, y.shape[-1]) for name, y in targets.items()})
