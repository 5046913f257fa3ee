"""The bounds behind every one-line refusal of a size or a seed (`rl2_course.limits`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rl2_course import limits
from rl2_course.errors import UsageError


def test_the_gittins_table_of_the_issue_is_621_gib():
    # n = 10,000: n(n+1)(n+2)/6 float32 values, the table the issue saw numpy refuse
    table = 10_000 * 10_001 * 10_002 // 6 * 4
    assert round(table / 2 ** 30) == 621
    assert limits.gittins_table_bytes(10_000) > table


@pytest.mark.parametrize("seed", [0, 7, 2 ** 32 - 1, 3.0])
def test_seeds_in_range_pass(seed):
    assert limits.check_seed(seed) == int(seed)


@pytest.mark.parametrize("seed, words", [(-1, "must lie in"), (2 ** 32, "must lie in"),
                                         (2 ** 70, "must lie in"), (1.5, "whole number"),
                                         ("seven", "whole number"), (True, "whole number")])
def test_seeds_out_of_range_are_refused_in_words(seed, words):
    with pytest.raises(UsageError, match=words):
        limits.check_seed(seed)


def test_a_cgroup_limit_counts_its_inactive_file_cache_as_free(tmp_path):
    (tmp_path / "memory.max").write_text("8000000000\n")
    (tmp_path / "memory.current").write_text("7000000000\n")
    (tmp_path / "memory.stat").write_text("anon 1000000000\ninactive_file 5000000000\n")
    found = limits._cgroup_numbers([str(tmp_path)], "memory.max", "memory.current", "inactive_file")
    assert found == limits.MemoryLimit(6_000_000_000, "this process's cgroup still allows")
    (tmp_path / "memory.max").write_text("max\n")
    assert limits._cgroup_numbers([str(tmp_path)], "memory.max", "memory.current",
                                  "inactive_file") is None


def test_an_address_space_limit_is_the_limit_a_notebook_hears():
    """The grader runs notebooks under RLIMIT_AS: a function called there names that limit."""
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (3 * 10**9, 3 * 10**9))\n"
            "from rl2_course import limits\n"
            "limit = limits.memory_limit(); print(limit.bytes < 3 * 10**9, 'RLIMIT_AS' in limit.source)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "True"], done.stderr


def test_a_request_over_the_limit_names_both_numbers(monkeypatch):
    monkeypatch.setattr(limits, "memory_limit", lambda: limits.MemoryLimit(2 * 10 ** 9, "we have"))
    limits.check_memory(10 ** 9, "a small request")
    with pytest.raises(UsageError, match=r"^a big request needs about 3\.0 GB of memory, more than "
                                         r"the 2\.0 GB we have; ask for less$"):
        limits.check_memory(3 * 10 ** 9, "a big request")


def test_training_memory_of_an_attention_core_counts_its_cache_and_layers():
    """The pre-flight memory check (`limits.training_bytes`) models an attention core, not a
    GRU of the same width: its state is a key/value cache over the whole context, so a longer
    context costs memory in proportion, and every layer keeps its own activations."""
    from rl2_course.limits import training_bytes

    trial = dict(input_size=17, actions=5, hidden_size=64, trials_per_update=64,
                 steps_per_trial=1000, segment_length=None, minibatches=4, minibatch_size=32)
    shape = dict(context=1000, attention_layers=2, attention_heads=4)
    one, two = (training_bytes(**trial, attention={**shape, "context": c}) for c in (1000, 2000))
    four = training_bytes(**trial, attention={**shape, "context": 4000})
    assert four - two == pytest.approx(2 * (two - one), rel=1e-3)       # linear in the context
    deeper = training_bytes(**trial, attention={**shape, "attention_layers": 4})
    assert deeper > one > training_bytes(**trial)                       # the GRU's estimate
