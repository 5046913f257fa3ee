"""argparse types shared by the command line (`rl2_course.cli`) and the benchmark scripts.

Each parses one option's text or raises `argparse.ArgumentTypeError`, which argparse turns
into a one-line usage error (exit status 2).
"""

from __future__ import annotations

import argparse
import math
from typing import Any, Callable

from rl2_course.envs.bandit import parse_prior
from rl2_course.errors import UsageError
from rl2_course.limits import SEED_LIMIT, check_seed


def seed(text: str) -> int:
    """A seed: an integer in [0, 2³²), in the words `limits.check_seed` gives a Python caller."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    try:
        return check_seed(value)
    except UsageError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def positive_number(text: str) -> float:
    """A finite number > 0 (seconds, minutes)."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def nonnegative_number(text: str) -> float:
    """A finite number ≥ 0 (a penalty)."""
    value = _number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a finite number ≥ 0, got {text}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def agent_names(text: str) -> list[str]:
    """'rl2,greedy' -> ['rl2', 'greedy'] (at least one name)."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one agent name")
    return names


def int_list(text: str) -> list[int]:
    """'1,4,8' -> [1, 4, 8]."""
    return _comma_list(text, "integers", int)


def int_or_none_list(text: str) -> list[int | None]:
    """'50,none' -> [50, None] (e.g. BPTT lengths, 'none' = whole trials)."""
    return _comma_list(text, "integers or 'none'", lambda v: None if v.lower() == "none" else int(v))


def name_list(*choices: str) -> Callable[[str], list[str]]:
    """A type for 'small,large' -> ['small', 'large'], each one of ``choices``."""
    def parse(text: str) -> list[str]:
        names = _comma_list(text, f"names from {', '.join(choices)}", str)
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from "
                                             f"{', '.join(choices)}")
        return names
    return parse


def beta_priors(text: str) -> list[tuple[float, float]]:
    """'0.5:0.5,2:5' -> [(0.5, 0.5), (2.0, 5.0)]: Beta(a, b) priors of the arm means."""
    priors = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            priors.append(parse_prior(item))
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return priors


def _comma_list(text: str, what: str, convert: Callable[[str], Any]) -> list:
    try:
        values = [convert(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one of: {what}")
    return values


__all__ = ["SEED_LIMIT", "agent_names", "nonnegative_number", "positive_number", "beta_priors", "int_list", "int_or_none_list", "name_list",
           "seed"]
