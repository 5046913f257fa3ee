"""What the chapters' test cells call inside the learner's kernel.

* `assert_close`: the learner's numbers against the reference's, with tolerances that a
  correct float32 computation meets (np.allclose's default ``atol=1e-8`` rejects a float32
  result wherever the reference is 0, e.g. a GAE return of a terminal step with no reward).
* `assert_own_work`: the hidden test that the learner's function is their own: it must not
  be the package's reference (or a copy of its code), nor call it. While the learner's function
  runs, each reference's code object is swapped for a trap, so every alias of it (a module
  attribute, a name bound in the notebook, a closure, a ``functools.partial``) springs the
  trap too. The grader (`rl2_course.classroom`) runs these hidden tests from the master
  notebook, so a learner cannot delete or edit them.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

#: float32 has 24 bits of mantissa (eps ≈ 1.2e-7); a few hundred roundings stay well inside
FLOAT32_RTOL = 1e-4
#: absolute tolerance, relative to the reference's largest magnitude: float32 cancellation
#: (a return R = A + V that should be 0) leaves an error relative to the operands, not to 0
FLOAT32_ATOL = 1e-5

PACKAGE_DIR = Path(__file__).resolve().parent


def assert_close(mine: Any, reference: Any, what: str = "values", *,
                 rtol: float = FLOAT32_RTOL, atol: float = FLOAT32_ATOL) -> None:
    """Fail (AssertionError, saying where and by how much) unless ``mine`` has the shape of
    ``reference`` and agrees with it to float32 precision. Tensors are accepted on both sides."""
    mine, reference = _array(mine), _array(reference)
    assert mine.shape == reference.shape, f"{what}: shape {mine.shape}, expected {reference.shape}"
    if reference.size == 0:
        return
    scale = max(1.0, float(np.nanmax(np.abs(reference))) if np.isfinite(reference).any() else 1.0)
    close = np.isclose(mine, reference, rtol=rtol, atol=atol * scale)
    if close.all():
        return
    worst = np.unravel_index(np.argmax(np.where(close, -np.inf, np.abs(mine - reference))),
                             reference.shape)
    raise AssertionError(f"{what} differ in {int((~close).sum())} of {close.size} entries; e.g. at "
                         f"{tuple(int(i) for i in worst)}: yours {mine[worst]:.6g}, expected "
                         f"{reference[worst]:.6g}")


def _array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):            # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=float)


# -- the learner's own work ----------------------------------------------------------------------

class _Trap:
    """Which references were called while the learner's function ran."""

    called: list[str] = []


def _sprung(label: str) -> RuntimeError:
    """Called by a trap's code (found through the import system, so that the trap needs no
    closure of its own); records the call and gives the error the trap raises."""
    _Trap.called.append(label)
    return RuntimeError(f"the package's {label} may not be used in this exercise")


def _trap_code(function: types.FunctionType, label: str) -> types.CodeType:
    """A code object that calls `_sprung` and raises, with as many free variables as
    ``function`` has (CPython only swaps code objects whose free variables match)."""
    free = function.__code__.co_freevars
    source = ("def factory():\n"
              + "".join(f"    {name} = None\n" for name in free)
              + "    def trap(*args, **kwargs):\n"
              + f"        raise __import__('rl2_course.checks', fromlist=['_'])._sprung({label!r})\n"
              + (f"        ({', '.join(free)},)\n" if free else "")
              + "    return trap\n")
    namespace: dict[str, Any] = {}
    exec(compile(source, "<rl2-course trap>", "exec"), namespace)
    return namespace["factory"]().__code__


def _resolve(dotted: str) -> tuple[types.FunctionType, Any, str]:
    """(the function behind ``dotted``, the module attribute it hangs from, that attribute's
    name): ``rl2_course.train.compute_gae``, ``…bandits.UCB1Policy.choose``, a property's getter."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            module = importlib.import_module(".".join(parts[:cut]))
            break
        except ImportError:
            continue
    else:
        raise ValueError(f"no module in {dotted!r}")
    top = getattr(module, parts[cut])
    target = top
    for name in parts[cut + 1:]:
        target = inspect.getattr_static(target, name)
    if isinstance(target, property):
        target = target.fget
    if isinstance(target, (staticmethod, classmethod)):
        target = target.__func__
    target = inspect.unwrap(target)
    if not isinstance(target, types.FunctionType):
        raise ValueError(f"{dotted} is not a Python function")
    return target, top, parts[cut]


def _function_of(value: Any) -> Any:
    """The plain function behind a bound method, a partial or a decorated function."""
    for _ in range(10):
        if isinstance(value, functools.partial):
            value = value.func
        elif inspect.ismethod(value):
            value = value.__func__
        else:
            break
    return inspect.unwrap(value)


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    return (a.co_code, a.co_consts, a.co_names) == (b.co_code, b.co_consts, b.co_names)


@contextmanager
def _trapped(functions: dict[str, types.FunctionType]) -> Iterator[list[str]]:
    saved = {label: function.__code__ for label, function in functions.items()}
    _Trap.called = []
    try:
        for label, function in functions.items():
            function.__code__ = _trap_code(function, label)
        yield _Trap.called
    finally:
        for label, function in functions.items():
            function.__code__ = saved[label]


def assert_own_work(mine: Callable, *references: str, args: tuple = (),
                    kwargs: dict | None = None) -> Any:
    """Fail with a message the learner understands when ``mine`` is, copies or calls one of
    ``references`` (dotted names of the package's implementations, e.g.
    ``"rl2_course.train.compute_gae"``); otherwise return ``mine(*args, **kwargs)``.

    Also fails when the notebook replaced a reference (in its module, or the name its checks
    compare with), since the checks would then compare the learner's function with itself.
    """
    function = _function_of(mine)
    name = getattr(mine, "__name__", None) or getattr(function, "__name__", repr(mine))
    notebook = getattr(function, "__globals__", {})
    targets: dict[str, types.FunctionType] = {}
    for dotted in references:
        target, top, top_name = _resolve(dotted)
        if not Path(target.__code__.co_filename).resolve().is_relative_to(PACKAGE_DIR):
            raise AssertionError(f"{dotted} was replaced in this notebook; the checks need the "
                                 "package's own")
        if top_name in notebook and notebook[top_name] is not top:
            raise AssertionError(f"this notebook rebinds {top_name}, which the checks compare "
                                 "your function with; leave it as imported")
        if function is target or (isinstance(function, types.FunctionType)
                                  and _same_code(function.__code__, target.__code__)):
            raise AssertionError(f"{name} is the package's {dotted} itself: the exercise is to "
                                 "write it yourself")
        targets[dotted] = target
    with _trapped(targets) as called:
        try:
            result = mine(*args, **(kwargs or {}))
        except Exception:       # the trap's error, perhaps wrapped or caught and re-raised
            if not called:
                raise
    if called:
        raise AssertionError(f"{name} calls the package's {called[0]}: the exercise is to write "
                             "it yourself, not to call the reference")
    return result


__all__ = ["FLOAT32_ATOL", "FLOAT32_RTOL", "assert_close", "assert_own_work"]
