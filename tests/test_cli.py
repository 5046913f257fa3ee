"""The CLI as graders use it: exact JSON shape, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl2_course", *args], capture_output=True,
                          text=True, timeout=600)


def test_evaluate_bandit_json():
    out = run_cli("evaluate", "bandit", "--arms", "3", "--episodes", "10", "--agents",
                  "random,greedy,ucb1", "--trials", "300", "--seed", "7", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["env"] == "bandit" and data["arms"] == 3 and data["episodes"] == 10
    assert data["trials"] == 300 and data["seed"] == 7
    assert list(data["results"]) == ["random", "greedy", "ucb1"]
    assert all(isinstance(v["mean"], float) and isinstance(v["stderr"], float)
               for v in data["results"].values())
    again = run_cli("evaluate", "bandit", "--arms", "3", "--episodes", "10", "--agents",
                    "random,greedy,ucb1", "--trials", "300", "--seed", "7", "--json")
    assert again.stdout == out.stdout


def test_evaluate_bandit_table():
    out = run_cli("evaluate", "bandit", "--arms", "2", "--episodes", "5", "--agents", "random,greedy",
                  "--trials", "50", "--seed", "1")
    assert out.returncode == 0 and "greedy" in out.stdout and "±" in out.stdout


BAD = {
    "one arm": (["--arms", "1", "--episodes", "10", "--agents", "random"], "arms"),
    "zero episodes": (["--arms", "2", "--episodes", "0", "--agents", "random"], "episodes"),
    "negative episodes": (["--arms", "2", "--episodes", "-3", "--agents", "random"], "episodes"),
    "zero trials": (["--arms", "2", "--episodes", "5", "--agents", "random", "--trials", "0"], "trials"),
    "unknown agent": (["--arms", "2", "--episodes", "5", "--agents", "random,wizard"], "wizard"),
    "empty agents": (["--arms", "2", "--episodes", "5", "--agents", ","], "agent"),
    "not a number": (["--arms", "two", "--episodes", "5", "--agents", "random"], "arms"),
    "missing option": (["--episodes", "5", "--agents", "random"], "arms"),
    "too large for the exact DP": (["--arms", "50", "--episodes", "500", "--agents", "bayes-optimal"],
                                   "bayes-optimal"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_prints_one_line_and_exits_2(case):
    args, word = BAD[case]
    out = run_cli("evaluate", "bandit", *args, "--trials", "10") if "--trials" not in args \
        else run_cli("evaluate", "bandit", *args)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert word in lines[0]


def test_unknown_command_and_env_exit_2():
    for args in (["fly"], ["evaluate", "chess", "--arms", "2"]):
        out = run_cli(*args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_comma_list_types_parse_or_say_what_they_expected():
    import argparse

    from rl2_course.argtypes import int_list, int_or_none_list, name_list

    assert int_list("1, 4,8") == [1, 4, 8] and int_or_none_list("50,none") == [50, None]
    assert name_list("small", "large")("large,small") == ["large", "small"]
    for parse, text, words in [(int_list, "1,a", "comma-separated integers"),
                               (int_list, ",", "at least one"),
                               (int_or_none_list, "foo", "integers or 'none'"),
                               (name_list("small", "large"), "huge", "unknown 'huge'")]:
        with pytest.raises(argparse.ArgumentTypeError, match=words):
            parse(text)
