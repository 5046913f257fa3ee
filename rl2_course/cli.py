"""Command line: ``python -m rl2_course {evaluate,train,tune,notebooks} ...``.

Bad input exits with status 2 and one line on stderr; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from rl2_course.errors import UsageError
from rl2_course.settings import WALL_SCHEMES


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line (no usage dump), exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _agents(text: str) -> list[str]:
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one agent name")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rl2_course",
                     description="RL² course: train and evaluate agents, tune baselines, reproduce the paper, build and grade notebooks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    evaluate = commands.add_parser("evaluate", help="compare agents on the same sampled tasks")
    eval_envs = evaluate.add_subparsers(dest="env", required=True, parser_class=_Parser)
    bandit = eval_envs.add_parser("bandit", help="Bernoulli bandits (Table 1)")
    bandit.add_argument("--arms", type=int, required=True, help="k, arms per bandit")
    bandit.add_argument("--episodes", type=int, required=True, help="n, pulls per trial")
    bandit.add_argument("--agents", type=_agents, required=True,
                        help="comma-separated: random,greedy,epsilon-greedy,ucb1,thompson,"
                             "optimistic-thompson,gittins,bayes-optimal,rl2")
    bandit.add_argument("--trials", type=int, default=1000, help="trials (tasks) per agent")
    bandit.add_argument("--seed", type=int, default=0)
    bandit.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    bandit.add_argument("--checkpoint", type=Path, default=None,
                        help="RL² checkpoint for the rl2 agent (default: the pretrained one "
                             "in assets/checkpoints)")
    bandit.set_defaults(run=_evaluate_bandit)
    mdp = eval_envs.add_parser("mdp", help="random tabular MDPs: 10 states, 5 actions, 10 steps (Table 2)")
    mdp.add_argument("--episodes", type=int, required=True, help="n, episodes per trial")
    mdp.add_argument("--agents", type=_agents, required=True,
                     help="comma-separated: random,greedy,epsilon-greedy,psrl,opsrl,ucrl2,beb")
    mdp.add_argument("--trials", type=int, default=1000, help="trials (tasks) per agent")
    mdp.add_argument("--seed", type=int, default=0)
    mdp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    mdp.add_argument("--checkpoint", type=Path, default=None,
                     help="RL² checkpoint for the rl2 agent (default: the pretrained one "
                          "in assets/checkpoints)")
    mdp.set_defaults(run=_evaluate_mdp)
    maze = eval_envs.add_parser("maze", help="random ViZDoom mazes, 2 episodes per trial (Table 3)")
    maze.add_argument("--size", choices=["small", "large"], required=True,
                      help="small: 5×5 cells; large: 9×9 cells")
    maze.add_argument("--agents", type=_agents, required=True,
                      help="comma-separated: random,rl2,rl2-forgetful (the RL² agent with its "
                           "memory wiped before episode 2: what is its memory worth?)")
    maze.add_argument("--trials", type=int, default=100, help="trials (mazes) per agent")
    maze.add_argument("--seed", type=int, default=0)
    maze.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    maze.add_argument("--checkpoint", type=Path, default=None,
                      help="RL² checkpoint for the rl2 agent (default: the pretrained one "
                           "in assets/checkpoints)")
    maze.add_argument("--walls", choices=WALL_SCHEMES, default=None,
                      help="wall textures: one everywhere, or one per quadrant of the maze "
                           "(default: the size's own; an RL² checkpoint must match it)")
    maze.set_defaults(run=_evaluate_maze)

    train = commands.add_parser("train", help="train an RL² agent with PPO")
    train_envs = train.add_subparsers(dest="env", required=True, parser_class=_Parser)
    train_bandit = train_envs.add_parser("bandit", help="Bernoulli bandits (Table 1)")
    train_bandit.add_argument("--arms", type=int, required=True, help="k, arms per bandit")
    train_bandit.add_argument("--episodes", type=int, required=True, help="n, pulls per trial")
    _training_options(train_bandit)
    train_bandit.set_defaults(run=_train)
    train_mdp = train_envs.add_parser("mdp", help="random tabular MDPs (Table 2)")
    train_mdp.add_argument("--episodes", type=int, required=True, help="n, episodes per trial")
    _training_options(train_mdp)
    train_mdp.set_defaults(run=_train)
    train_maze = train_envs.add_parser("maze", help="random ViZDoom mazes, 2 episodes (Table 3)")
    train_maze.add_argument("--size", choices=["small", "large"], required=True,
                            help="small: 5×5 cells; large: 9×9 cells")
    _training_options(train_maze)
    train_maze.set_defaults(run=_train)

    tune = commands.add_parser("tune", help="grid-search the baselines' parameters")
    tune_envs = tune.add_subparsers(dest="env", required=True, parser_class=_Parser)
    tune_bandit = tune_envs.add_parser("bandit", help="ε-greedy, UCB1, optimistic TS")
    tune_bandit.add_argument("--arms", type=int, required=True)
    tune_bandit.add_argument("--episodes", type=int, required=True)
    tune_bandit.add_argument("--trials", type=int, default=5000)
    tune_bandit.add_argument("--seed", type=int, default=2016)
    tune_bandit.add_argument("--write", action="store_true",
                             help="store the winners in rl2_course/baselines/tuned_bandit.json")
    tune_bandit.set_defaults(run=_tune_bandit)
    tune_mdp = tune_envs.add_parser("mdp", help="ε-greedy, OPSRL, UCRL2, BEB on tabular MDPs")
    tune_mdp.add_argument("--episodes", type=int, required=True)
    tune_mdp.add_argument("--trials", type=int, default=1000)
    tune_mdp.add_argument("--seed", type=int, default=2016)
    tune_mdp.add_argument("--write", action="store_true",
                          help="store the winners in rl2_course/baselines/tuned_mdp.json")
    tune_mdp.set_defaults(run=_tune_mdp)

    export = commands.add_parser("export", help="strip a training checkpoint for release")
    export.add_argument("source", type=Path, help="a training checkpoint (or its --out directory)")
    export.add_argument("destination", type=Path, help="where to write the small checkpoint")
    export.set_defaults(run=_export)

    reproduce = commands.add_parser("reproduce", help="reproduce a table of the paper")
    reproduce.add_argument("table", choices=["table1", "table2", "table3"],
                           help="table1: bandits (Table 1); table2: tabular MDPs (Table 2); "
                                "table3: ViZDoom mazes (Table 3)")
    reproduce.add_argument("--quick", action="store_true",
                           help="fewer trials per row: a sanity check in under two minutes")
    reproduce.add_argument("--trials", type=int, default=None,
                           help="trials per row (per maze size for table3; default 1000, as in "
                                "the paper)")
    reproduce.add_argument("--seed", type=int, default=0)
    reproduce.add_argument("--out", type=Path, default=Path("results"),
                           help="directory for TABLE.md and TABLE.json (default: results/)")
    reproduce.set_defaults(run=_reproduce)

    notebooks = commands.add_parser("notebooks", help="generate notebooks/ from solutions/")
    notebooks.add_argument("--solutions", type=Path, default=None)
    notebooks.add_argument("--out", type=Path, default=None)
    notebooks.add_argument("--check", action="store_true",
                           help="only report whether notebooks/ is up to date (exit 1 if not)")
    notebooks.set_defaults(run=_notebooks)

    grade = commands.add_parser("grade", help="run a learner's notebook and grade its exercises")
    grade.add_argument("notebook", type=Path, help="the submitted .ipynb")
    grade.add_argument("--timeout", type=float, default=900,
                       help="seconds the whole notebook may run (default 900)")
    grade.add_argument("--cell-timeout", type=float, default=300,
                       help="seconds one cell may run before it is interrupted (default 300)")
    grade.add_argument("--json", action="store_true", help="one JSON object on stdout")
    grade.set_defaults(run=_grade)

    assignment = commands.add_parser("assignment", help="zip the learner's notebooks for a class")
    assignment.add_argument("--out", type=Path, default=Path("dist/rl2-course-assignment.zip"))
    assignment.set_defaults(run=_assignment)

    _analyse_parser(commands)
    return parser


def _evaluate_bandit(args: argparse.Namespace) -> int:
    from rl2_course.evaluate import evaluate_bandit

    result = evaluate_bandit(args.arms, args.episodes, args.agents, args.trials, args.seed,
                             checkpoint=args.checkpoint)
    _print_evaluation(result, args.json,
                      f"Bernoulli bandits: k={args.arms} arms, n={args.episodes} pulls, "
                      f"{args.trials} trials, seed {args.seed} (every agent meets the same tasks)")
    return 0


def _print_evaluation(result, as_json: bool, heading: str) -> None:
    """One JSON object (the graders' format), or a heading and the table."""
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        print(heading)
        print(result.table())


def _print_scores(tuned: dict, heading: str, width: int, digits: int) -> None:
    """A tuning run's grid: every parameter value's mean ± stderr, the winner marked."""
    print(heading)
    for agent, t in tuned.items():
        for params, mean, se in t["scores"]:
            mark = "  <- best" if params == t["best"] else ""
            print(f"  {agent:<{width}} {params!s:<20} {mean:{digits}.3f} ± {se:.3f}{mark}")


def _training_options(parser: argparse.ArgumentParser) -> None:
    """The options every `train ENV` command shares."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for checkpoint.pt and log.csv")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--updates", type=int, default=None,
                        help="train until this many PPO updates in total "
                             "(default: the setting's budget in rl2_course/settings.py)")
    budget.add_argument("--minutes", type=float, default=None,
                        help="train for this many minutes in total")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from the weights of this checkpoint (same actions and GRU "
                             "size; e.g. an agent trained on shorter trials)")
    parser.add_argument("--device", default="cpu",
                        help="cpu (default; bit-reproducible) or cuda (a GPU: faster, not "
                             "bit-reproducible)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        dest="overrides",
                        help="override one TrainConfig hyperparameter of the setting's defaults, "
                             "e.g. --set hidden_size=256 --set gae_lambda=0.3 (repeatable)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _train(args: argparse.Namespace) -> int:
    from rl2_course.train import TrainConfig, parse_overrides, train

    options = dict(seed=args.seed, updates=args.updates, minutes=args.minutes,
                   device=args.device, **parse_overrides(args.overrides),
                   **({"init_from": str(args.init_from)} if args.init_from else {}))
    if args.env == "bandit":
        from rl2_course.evaluate import check_bandit_setting

        check_bandit_setting(args.arms, args.episodes)
        config = TrainConfig.for_bandit(args.arms, args.episodes, **options)
        what = f"bandit k={args.arms}, n={args.episodes}"
    elif args.env == "maze":
        config = TrainConfig.for_maze(args.size, **options)
        what = f"maze {args.size}"
    else:
        from rl2_course.evaluate_mdp import check_mdp_setting

        check_mdp_setting(args.episodes)
        config = TrainConfig.for_mdp(args.episodes, **options)
        what = f"mdp n={args.episodes}"
    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    last = "n/a" if result.mean_return is None else f"{result.mean_return:.3f}"
    print(f"trained RL² on {what}: {result.updates} updates, "
          f"{result.trials_seen} trials, {result.wall_seconds:.0f} s; last mean trial return "
          f"{last}; wrote {result.checkpoint_path} and {result.log_path}")
    return 0


def _tune_bandit(args: argparse.Namespace) -> int:
    from rl2_course.tuning import command_line, tune_bandit, write_tuned
    from rl2_course.evaluate import check_bandit_setting

    check_bandit_setting(args.arms, args.episodes, args.trials)
    tuned = tune_bandit(args.arms, args.episodes, args.trials, args.seed)
    _print_scores(tuned, f"tuning k={args.arms}, n={args.episodes} on {args.trials} trials, "
                         f"seed {args.seed}", width=20, digits=9)
    if args.write:
        print(f"wrote {write_tuned(args.arms, args.episodes, tuned, command_line())}")
    return 0


def _evaluate_mdp(args: argparse.Namespace) -> int:
    from rl2_course.evaluate_mdp import ACTIONS, HORIZON, STATES, evaluate_mdp

    result = evaluate_mdp(args.episodes, args.agents, args.trials, args.seed,
                          checkpoint=args.checkpoint)
    _print_evaluation(result, args.json,
                      f"random tabular MDPs: {STATES} states, {ACTIONS} actions, {HORIZON} steps per "
                      f"episode, n={args.episodes} episodes, {args.trials} trials, seed {args.seed} "
                      "(every agent meets the same tasks)")
    return 0


def _evaluate_maze(args: argparse.Namespace) -> int:
    from rl2_course.evaluate_maze import evaluate_maze

    result = evaluate_maze(args.size, args.agents, args.trials, args.seed,
                           checkpoint=args.checkpoint, walls=args.walls)
    _print_evaluation(result, args.json,
                      f"ViZDoom mazes ({args.size}, {result.walls} walls), 2 episodes per trial, {args.trials} trials, "
                      f"seed {args.seed} (every agent meets the same mazes); length = mean "
                      f"decisions of the successful episodes ± stderr")
    return 0


def _tune_mdp(args: argparse.Namespace) -> int:
    from rl2_course.evaluate_mdp import check_mdp_setting
    from rl2_course.tuning import command_line, tune_mdp, write_tuned_mdp

    check_mdp_setting(args.episodes, args.trials)
    tuned = tune_mdp(args.episodes, args.trials, args.seed)
    _print_scores(tuned, f"tuning MDP baselines at n={args.episodes} on {args.trials} trials, "
                         f"seed {args.seed}", width=16, digits=10)
    if args.write:
        print(f"wrote {write_tuned_mdp(args.episodes, tuned, command_line())}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from rl2_course.agents.checkpoint import export_checkpoint

    source = args.source / "checkpoint.pt" if args.source.is_dir() else args.source
    print(f"wrote {export_checkpoint(source, args.destination)}")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from rl2_course.reproduce import run_table

    print(run_table(args.table, args.trials, args.seed, args.quick, args.out))
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    from rl2_course import course

    solutions = args.solutions or course.SOLUTIONS_DIR
    out = args.out or course.NOTEBOOKS_DIR
    if args.check:
        stale = course.stale_notebooks(solutions, out)
        for path in stale:
            print(f"out of date: {path}")
        return 1 if stale else 0
    for path in course.write_student_notebooks(solutions, out):
        print(f"wrote {path}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from rl2_course.classroom import grade_notebook, print_report

    report = grade_notebook(args.notebook, timeout=args.timeout, cell_timeout=args.cell_timeout)
    print_report(report, args.json)
    return 0 if report.all_passed else 1


def _assignment(args: argparse.Namespace) -> int:
    from rl2_course.classroom import build_assignment

    print(f"wrote {build_assignment(args.out)}")
    return 0


# -- analyse: inside the fast learner (chapter 05) ---------------------------------------------

def int_list(text: str) -> list[int]:
    """argparse type: '1,4,8' -> [1, 4, 8], or a one-line usage error."""
    return _comma_list(text, "integers", int)


def int_or_none_list(text: str) -> list[int | None]:
    """argparse type: '50,none' -> [50, None] (e.g. BPTT lengths, 'none' = whole trials)."""
    return _comma_list(text, "integers or 'none'", lambda v: None if v.lower() == "none" else int(v))


def name_list(*choices: str) -> Callable[[str], list[str]]:
    """argparse type: 'small,large' -> ['small', 'large'], each one of ``choices``."""
    def parse(text: str) -> list[str]:
        names = _comma_list(text, f"names from {', '.join(choices)}", str)
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(repr, unknown))}; choose from "
                                             f"{', '.join(choices)}")
        return names
    return parse


def _comma_list(text: str, what: str, convert: Callable[[str], Any]) -> list:
    try:
        values = [convert(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"give at least one of: {what}")
    return values


def _priors(text: str) -> list[tuple[float, float]]:
    """'0.5:0.5,2:5' -> [(0.5, 0.5), (2.0, 5.0)]: Beta(a, b) priors of the arm means."""
    priors = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            a, b = (float(v) for v in item.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"a prior is A:B (Beta(A, B)), got {item!r}") from None
        priors.append((a, b))
    return priors


def _analyse_parser(commands) -> None:
    """``analyse {probes,behaviour,ood}``: what a trained agent's GRU knows, where it breaks."""
    analyse = commands.add_parser("analyse", help="look inside trained RL² agents: probes, "
                                                  "decisions against Bayes-optimal, out of distribution")
    analyses = analyse.add_subparsers(dest="analysis", required=True, parser_class=_Parser)

    def agent_options(parser: argparse.ArgumentParser, trials: int) -> None:
        parser.add_argument("--arms", type=int, required=True, help="k of the trained bandit agent")
        parser.add_argument("--episodes", type=int, required=True, help="n it was trained for")
        parser.add_argument("--checkpoint", type=Path, default=None,
                            help="RL² checkpoint (default: the pretrained one in assets/checkpoints)")
        parser.add_argument("--trials", type=int, default=trials, help="trials (tasks) to play")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")

    probes = analyses.add_parser("probes", help="linear probes from the GRU state to each arm's "
                                                "posterior and to the Bayes-optimal (or Gittins) action")
    agent_options(probes, 2000)
    probes.add_argument("--alpha", type=float, default=None,
                        help="ridge penalty on standardised hidden units (default 1.0)")
    probes.set_defaults(run=_analyse_probes)

    behaviour = analyses.add_parser("behaviour", help="every decision against the exact "
                                                      "Bayes-optimal policy (settings with a solvable DP)")
    agent_options(behaviour, 10_000)
    behaviour.add_argument("--agents", type=_agents,
                           default=["rl2", "rl2-greedy", "gittins", "ucb1", "thompson", "greedy"],
                           help="comma-separated bandit agents; rl2-greedy is the RL² network "
                                "taking argmax π (default: rl2,rl2-greedy,gittins,ucb1,thompson,greedy)")
    behaviour.set_defaults(run=_analyse_behaviour)

    ood = analyses.add_parser("ood", help="a trained agent on tasks it was not trained for, "
                                          "beside baselines that need no retraining")
    ood_envs = ood.add_subparsers(dest="env", required=True, parser_class=_Parser)
    ood_bandit = ood_envs.add_parser("bandit", help="longer trials and other arm priors (the "
                                                    "number of arms is fixed by the network)")
    agent_options(ood_bandit, 2000)
    ood_bandit.add_argument("--lengths", type=int_list, default=None,
                            help="trial lengths to test at the U[0,1] prior (default: n,2n,5n)")
    ood_bandit.add_argument("--priors", type=_priors, default=None,
                            help="Beta priors A:B to test at the training n (default: 0.5:0.5,2:5)")
    ood_bandit.add_argument("--agents", type=_agents, default=None,
                            help="comma-separated baselines (default: ucb1,thompson,gittins,random)")
    ood_bandit.set_defaults(run=_analyse_ood)
    ood_mdp = ood_envs.add_parser("mdp", help="other episode lengths and trial lengths "
                                              "(10 states, 5 actions: fixed by the network)")
    ood_mdp.add_argument("--episodes", type=int, required=True, help="n the MDP agent was trained for")
    ood_mdp.add_argument("--checkpoint", type=Path, default=None,
                         help="RL² checkpoint (default: assets/checkpoints/mdp-nN.pt)")
    ood_mdp.add_argument("--horizons", type=int_list, default=None,
                         help="steps per episode to test at the training n (default: 10,5,20)")
    ood_mdp.add_argument("--lengths", type=int_list, default=None,
                         help="episodes per trial to test at 10 steps (default: 2n)")
    ood_mdp.add_argument("--agents", type=_agents, default=None,
                         help="comma-separated baselines (default: beb,psrl,greedy,random)")
    ood_mdp.add_argument("--trials", type=int, default=1000, help="trials (tasks) per condition")
    ood_mdp.add_argument("--seed", type=int, default=0)
    ood_mdp.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ood_mdp.set_defaults(run=_analyse_ood)


def _print_report(report, as_json: bool, heading: str) -> None:
    """One JSON object, or a heading and the report's table."""
    if as_json:
        print(json.dumps(report.to_json()))
    else:
        print(heading)
        print(report.table())


def _analyse_probes(args: argparse.Namespace) -> int:
    from rl2_course.analysis.probes import DEFAULT_ALPHA, probe_bandit_agent

    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    report = probe_bandit_agent(args.arms, args.episodes, args.trials, args.seed,
                                checkpoint=args.checkpoint, alpha=alpha)
    _print_report(report, args.json,
                  f"linear probes on the GRU state of the RL² agent for k={args.arms}, "
                  f"n={args.episodes}: {args.trials} trials ({report.test_trials} held out), "
                  f"seed {args.seed}, ridge alpha {alpha:g}; control: a random network, same inputs")
    return 0


def _analyse_behaviour(args: argparse.Namespace) -> int:
    from rl2_course.analysis.behaviour import compare_with_bayes_optimal

    report = compare_with_bayes_optimal(args.agents, args.arms, args.episodes, args.trials,
                                        args.seed, checkpoint=args.checkpoint)
    _print_report(report, args.json,
                  f"decisions against the Bayes-optimal policy (value {report.value:.3f}) on "
                  f"k={args.arms}, n={args.episodes} bandits, {args.trials} trials, seed {args.seed}")
    return 0


def _analyse_ood(args: argparse.Namespace) -> int:
    from rl2_course.analysis import ood

    n = args.episodes
    if args.env == "bandit":
        report = ood.bandit_ood(args.arms, n, ood.bandit_conditions(n, args.lengths, args.priors),
                                trials=args.trials, seed=args.seed,
                                agents=args.agents or ood.BANDIT_OOD_AGENTS,
                                checkpoint=args.checkpoint)
        what = f"bandit k={args.arms}, n={n}, arm means from U[0,1]"
    else:
        report = ood.mdp_ood(n, ood.mdp_conditions(n, args.horizons, args.lengths),
                             trials=args.trials, seed=args.seed,
                             agents=args.agents or ood.MDP_OOD_AGENTS, checkpoint=args.checkpoint)
        what = f"random MDPs, n={n} episodes of 10 steps"
    _print_report(report, args.json,
                  f"out of distribution: RL² trained on {what}; {args.trials} trials per "
                  f"condition, seed {args.seed} (every agent meets the same tasks); mean total "
                  f"reward ± stderr")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        # a file-system problem the command did not foresee (a full disk, a path under a file):
        # still one line that names the path, never a traceback
        where = f" {err.filename}:" if err.filename else ""
        print(f"error:{where} {err.strerror or err}", file=sys.stderr)
        return 2
