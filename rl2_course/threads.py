"""The same numbers on every CPU run: a fixed torch thread count and deterministic kernels.

torch's float sums, and so a run's numbers, depend on the number of threads; training
(`rl2_course.train`) and evaluation (`rl2_course.evaluate_maze`) fix it for their duration.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def fixed_torch_threads(threads: int) -> Iterator[None]:
    """torch uses ``threads`` CPU threads inside the block (its float sums, and so a run's
    numbers, depend on the count); the previous count is restored afterwards."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)


@contextmanager
def deterministic_torch(threads: int, device: str = "cpu") -> Iterator[None]:
    """Fixed thread count + deterministic kernels for the run; restored afterwards.

    Only on the CPU: cuDNN's GRU has no deterministic backward pass, so a GPU run is fast but
    not bit-reproducible (the pretrained assets say which device trained them).
    """
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(device == "cpu")
    try:
        with fixed_torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(old_det)



__all__ = ["deterministic_torch", "fixed_torch_threads"]
