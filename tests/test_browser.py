"""The trial-stepper widget in a real browser: JupyterLab + Playwright driving Debian's chromium.

Starts one JupyterLab from this environment on a free localhost port with a token. For each
trial stepper (bandit, MDP, maze) it opens a small notebook that builds the stepper with the
agent, task and seed of its chapter (02, 03, 04) and plays the trial to its end, runs all
cells, then clicks Reset and Step three times and checks that the widget shows what the Python
object says after the same clicks. The chapters themselves run in nbval; here only the widgets meet a browser.
Screenshots go to ``tests/artifacts/`` (git-ignored).

Needs ``/usr/bin/chromium`` (``make test`` installs it with apt when run as root) and the
``playwright`` package (pinned in the test extras; it drives the system browser, so nothing is
downloaded). Without them the test is skipped with a message, except under ``CI=true``,
where it must run.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"

#: widget -> (imports, the stepper its chapter builds: same agent, task and seed; {draw} is
#: empty in the notebook and ", auto_draw=False" for the copy made in this process)
WIDGETS = {
    "bandit": ("from rl2_course.evaluate import make_bandit_agent\n"
               "from rl2_course.widgets import BanditTrialStepper",
               'BanditTrialStepper(make_bandit_agent("rl2", 5, 10), 5, 10, seed=11{draw})'),    # chapter 02
    "mdp": ("from rl2_course.evaluate_mdp import make_mdp_agent\n"
            "from rl2_course.widgets import MDPTrialStepper",
            'MDPTrialStepper(make_mdp_agent("rl2", 10), 10, seed=5{draw})'),                    # chapter 03
    "maze": ("from rl2_course.evaluate_maze import make_maze_agent\n"
             "from rl2_course.widgets import MazeTrialStepper",
             'MazeTrialStepper(make_maze_agent("rl2", "paper-small"), "paper-small", seed=4{draw})'),  # chapter 04
}


def _make_stepper(widget: str):
    imports, build = WIDGETS[widget]
    namespace: dict = {}
    exec(imports, namespace)
    return eval(build.format(draw=", auto_draw=False"), namespace)


def _write_notebook(widget: str, folder: Path) -> str:
    """A notebook that shows the stepper and plays its trial to the end, as the chapter does."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    imports, build = WIDGETS[widget]
    cells = [new_code_cell(f"{imports}\nfrom IPython.display import display"),
             new_code_cell(f"stepper = {build.format(draw='')}\ndisplay(stepper)"),
             new_code_cell("stepper.play_to_end()")]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    name = f"{widget}-stepper.ipynb"
    nbformat.write(nb, folder / name)
    return name


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _requirements() -> str | None:
    """Why the browser test cannot run here, or None."""
    if CHROMIUM is None:
        return "no chromium on PATH (run `make test` as root to apt-install it, or `apt-get install chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make install adds it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_settings(directory: Path) -> Path:
    """User settings for the test's JupyterLab: render every cell (no windowing, so the widget
    exists in the page wherever it is), no news pop-up, no autosave."""
    settings = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false"}',
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": '{"autosave": false}',
    }
    for name, text in settings.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module, serving a notebook per widget (copies in a temporary folder)."""
    missing = _requirements()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true, so the browser test must run, but {missing}")
        pytest.skip(missing)
    tmp_path = tmp_path_factory.mktemp("browser")
    port, token = _free_port(), uuid.uuid4().hex
    (tmp_path / "lab").mkdir()
    notebooks = {widget: _write_notebook(widget, tmp_path / "lab") for widget in WIDGETS}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={tmp_path / 'lab'}",
               f"--LabApp.user_settings_dir={_lab_settings(tmp_path / 'settings')}",
               f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
               "--ServerApp.open_browser=False", "--LabApp.news_url=None"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                assert server.poll() is None, (ARTIFACTS / "jupyterlab.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "JupyterLab did not start within 2 minutes"
                time.sleep(0.5)
        yield base, token, notebooks
    finally:
        os.killpg(server.pid, signal.SIGTERM)       # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _expected_after_three_steps(widget: str) -> tuple[str, str]:
    """What the widget shows after Reset + 3 Steps, computed by the Python object itself."""
    stepper = _make_stepper(widget)
    start = re.sub(r"<[^>]+>", "", stepper.counter.value)
    for _ in range(3):
        stepper.step()
    after = re.sub(r"<[^>]+>", "", stepper.counter.value)
    stepper.close()                  # the maze stepper's Doom process ends here
    return start, after


@pytest.mark.parametrize("widget", list(WIDGETS))
def test_step_three_times_in_jupyterlab(lab, widget):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    base, token, notebooks = lab
    at_start, after_three = _expected_after_three_steps(widget)
    total = re.search(r"step 0 / (\d+)", at_start).group(1)
    assert f"step 3 / {total}" in after_three
    shot = widget
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            # a workspace of its own, so that the page shows this notebook only (not the last test's tabs)
            page.goto(f"{base}/lab/workspaces/{widget}/tree/{notebooks[widget]}?reset&token={token}")
            page.locator(".jp-Notebook").first.wait_for(timeout=120_000)
            expect(page.locator(".jp-StatusBar-Widget", has_text="Idle").first).to_be_visible(
                timeout=120_000)                                       # the kernel is up
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            select = page.locator(".jp-Dialog button", has_text=re.compile(r"^Select$"))
            try:                       # JupyterLab may ask which kernel to use: the default one
                select.wait_for(timeout=10_000)
                select.click()
            except PlaywrightTimeout:
                pass
            # the notebook plays the trial to its end from code: the widget must show that first
            counter = page.locator(".widget-html-content", has_text="step ")
            expect(counter.first).to_contain_text("trial over", timeout=240_000)
            page.screenshot(path=str(ARTIFACTS / f"browser-{shot}-0-after-run-all.png"))

            widget = counter.first.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][last()]")
            widget.locator("button", has_text="Reset").click()
            expect(counter.first).to_contain_text(f"step 0 / {total}", timeout=30_000)
            shown = []
            for step in range(1, 4):
                widget.locator("button", has_text="Step").click()
                expect(counter.first).to_contain_text(f"step {step} / {total}", timeout=30_000)
                shown.append(counter.first.inner_text())
                page.screenshot(path=str(ARTIFACTS / f"browser-{shot}-{step}-after-step.png"))
            assert shown[0] != shown[1] != shown[2]                   # the view changed each time
            assert " ".join(shown[-1].split()) == " ".join(after_three.split())
        finally:
            page.screenshot(path=str(ARTIFACTS / f"browser-{shot}-last.png"))
            browser.close()
