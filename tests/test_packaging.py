"""The set-up promises: pinned versions agree everywhere; CI and README go through `make test`."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def environment_yml_pip_pins():
    text = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, l in enumerate(text) if l.strip() == "- pip:")
    return pins(l for l in text[start + 1:] if l.startswith(" " * 6))


def test_environment_yml_names_the_same_versions_as_constraints():
    locked = pins((ROOT / "constraints.txt").read_text().splitlines())
    conda = environment_yml_pip_pins()
    assert conda, "environment.yml has no pinned pip packages"
    for name, version in conda.items():
        assert locked.get(name) == version, f"{name}: environment.yml {version}, constraints {locked.get(name)}"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_every_direct_dependency_is_pinned_in_both_places():
    text = (ROOT / "pyproject.toml").read_text()
    deps = re.findall(r'^\s+"([A-Za-z0-9_\-]+)",?$', text, flags=re.M)
    locked, conda = pins((ROOT / "constraints.txt").read_text().splitlines()), environment_yml_pip_pins()
    for required in ["torch", "numpy", "matplotlib", "ipywidgets", "jupyterlab", "nbval", "pytest",
                     "tqdm", "gymnasium", "vizdoom", *deps]:
        assert required in locked, f"{required} is not pinned in constraints.txt"
        assert required in conda, f"{required} is missing from environment.yml"
    assert locked["torch"] == "2.13.0"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, flags=re.M)
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
