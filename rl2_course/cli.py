"""Command line: ``python -m rl2_course {evaluate,train,tune,notebooks} ...``.

Bad input exits with status 2 and one line on stderr; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from rl2_course.argtypes import (agent_names, beta_priors, int_list, nonnegative_number,
                                 positive_number, seed)
from rl2_course.errors import UsageError
from rl2_course.families import FAMILIES, TaskFamily
from rl2_course.files import json_safe


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad arguments in one line (no usage dump), exit status 2."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def _task_arguments(parser: argparse.ArgumentParser, fam: TaskFamily) -> None:
    """The arguments that name one setting of task family ``fam`` (a bandit's --arms ...)."""
    for argument in fam.arguments:
        parser.add_argument(f"--{argument.name}", type=argument.type, required=True,
                            choices=argument.choices, help=argument.help)


def _result_options(parser: argparse.ArgumentParser, trials: int, checkpoint_help: str) -> None:
    """--trials, --seed, --json and --checkpoint: what every command that runs an agent takes."""
    parser.add_argument("--trials", type=int, default=trials, help="trials (tasks) per agent")
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--checkpoint", type=Path, default=None, help=checkpoint_help)


_PRETRAINED = "RL² checkpoint for the rl2 agent (default: the pretrained one in assets/checkpoints)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m rl2_course",
                     description="RL² course: train and evaluate agents, tune baselines, reproduce the paper, build and grade notebooks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    evaluate = commands.add_parser("evaluate", help="compare agents on the same sampled tasks")
    eval_envs = evaluate.add_subparsers(dest="env", required=True, parser_class=_Parser)
    train = commands.add_parser("train", help="train an RL² agent with PPO")
    train_envs = train.add_subparsers(dest="env", required=True, parser_class=_Parser)
    for fam in FAMILIES.values():
        sub = eval_envs.add_parser(fam.name, help=fam.title)
        _task_arguments(sub, fam)
        sub.add_argument("--agents", type=agent_names, required=True,
                         help=f"comma-separated: {fam.agents_help}")
        _result_options(sub, fam.default_trials, _PRETRAINED)
        for option in fam.evaluation_options:
            flags = (f"--{option.name.replace('_', '-')}", *option.aliases)
            if option.type is bool:
                sub.add_argument(*flags, dest=option.name, action="store_true", help=option.help)
            else:
                sub.add_argument(*flags, dest=option.name, type=option.type, choices=option.choices,
                                 default=option.default, help=option.help)
        sub.set_defaults(run=_evaluate)
        sub = train_envs.add_parser(fam.name, help=fam.title)
        _task_arguments(sub, fam)
        _training_options(sub)
        sub.set_defaults(run=_train)

    tune = commands.add_parser("tune", help="grid-search the baselines' parameters")
    tune_envs = tune.add_subparsers(dest="env", required=True, parser_class=_Parser)
    tune_bandit = tune_envs.add_parser("bandit", help="ε-greedy, UCB1, optimistic TS")
    tune_bandit.add_argument("--arms", type=int, required=True)
    tune_bandit.add_argument("--episodes", type=int, required=True)
    tune_bandit.add_argument("--trials", type=int, default=5000)
    tune_bandit.add_argument("--seed", type=seed, default=2016)
    tune_bandit.add_argument("--write", action="store_true",
                             help="store the winners in rl2_course/baselines/tuned_bandit.json")
    tune_bandit.set_defaults(run=_tune_bandit)
    tune_mdp = tune_envs.add_parser("mdp", help="ε-greedy, OPSRL, UCRL2, BEB on tabular MDPs")
    tune_mdp.add_argument("--episodes", type=int, required=True)
    tune_mdp.add_argument("--trials", type=int, default=1000)
    tune_mdp.add_argument("--seed", type=seed, default=2016)
    tune_mdp.add_argument("--write", action="store_true",
                          help="store the winners in rl2_course/baselines/tuned_mdp.json")
    tune_mdp.set_defaults(run=_tune_mdp)

    export = commands.add_parser("export", help="strip a training checkpoint for release")
    export.add_argument("source", type=Path, help="a training checkpoint (or its --out directory)")
    export.add_argument("destination", type=Path, help="where to write the small checkpoint")
    export.add_argument("--episodes", type=int, default=None,
                        help="make the agent play trials of this many episodes, with no "
                             "training: an attention context grows (new positions repeat its "
                             "last episode's), a GRU is copied; e.g. the n=10 MDP agent for "
                             "n=50 trials")
    export.add_argument("--size", default=None,
                        help="make a maze agent play mazes of this size, with no training: the "
                             "weights are copied and an attention context grows; evaluations "
                             "and Table 3 say what it was trained on")
    export.set_defaults(run=_export)

    reproduce = commands.add_parser("reproduce", help="reproduce a table of the paper")
    reproduce.add_argument("table", choices=["table1", "table2", "table3"],
                           help="table1: bandits (Table 1); table2: tabular MDPs (Table 2); "
                                "table3: ViZDoom mazes (Table 3)")
    reproduce.add_argument("--quick", action="store_true",
                           help="fewer trials per row: a sanity check (about two minutes for "
                                "table1 and table2, several for table3's two sizes and protocols)")
    reproduce.add_argument("--trials", type=int, default=None,
                           help="trials per row (per maze size and start protocol for table3; "
                                "default 1000, as in the paper)")
    reproduce.add_argument("--seed", type=seed, default=0)
    reproduce.add_argument("--out", type=Path, default=Path("results"),
                           help="directory for TABLE.md and TABLE.json (default: results/)")
    reproduce.set_defaults(run=_reproduce)

    notebooks = commands.add_parser("notebooks", help="generate notebooks/ from solutions/")
    notebooks.add_argument("--solutions", type=Path, default=None)
    notebooks.add_argument("--out", type=Path, default=None)
    notebooks.add_argument("--check", action="store_true",
                           help="only report whether notebooks/ is up to date (exit 1 if not)")
    notebooks.set_defaults(run=_notebooks)

    grade = commands.add_parser("grade", help="grade a learner's notebook, or a folder of them, "
                                              "with the master notebooks' tests")
    grade.add_argument("notebook", type=Path,
                       help="the submitted .ipynb, or a folder of submissions (LEARNER.ipynb or "
                            "LEARNER/.../*.ipynb): then a gradebook and feedback are written")
    grade.add_argument("--solutions", type=Path, default=None,
                       help="the master notebooks whose test cells grade (default: solutions/)")
    grade.add_argument("--out", type=Path, default=None,
                       help="for a folder: where gradebook.csv, gradebook.json and feedback/ go "
                            "(default: FOLDER-grades beside it)")
    grade.add_argument("--timeout", type=positive_number, default=900,
                       help="seconds the whole notebook may run (default 900)")
    grade.add_argument("--cell-timeout", type=positive_number, default=300,
                       help="seconds one cell may run before it is interrupted (default 300)")
    grade.add_argument("--memory", type=positive_number, default=None, metavar="GB",
                       help="address space the notebook's processes may each use, in GB "
                            "(default: the memory the machine has available)")
    grade.add_argument("--json", action="store_true", help="one JSON object on stdout")
    grade.set_defaults(run=_grade)

    assignment = commands.add_parser("assignment", help="zip the learner's notebooks for a class")
    assignment.add_argument("--out", type=Path, default=Path("dist/rl2-course-assignment.zip"))
    assignment.add_argument("--repository", default=None, metavar="URL",
                            help="the course repository's address, written into the zip's "
                                 "README.md as the one to clone (default: 'ask your instructor')")
    assignment.set_defaults(run=_assignment)

    _analyse_parser(commands)
    return parser


def _evaluate(args: argparse.Namespace) -> int:
    fam = FAMILIES[args.env]
    task = fam.task_from_args(args)
    extra = {o.name: getattr(args, o.name) for o in fam.evaluation_options if o.name not in fam.options}
    result = fam.evaluate(task, args.agents, args.trials, args.seed, checkpoint=args.checkpoint,
                          **extra)
    _print_result(result, args.json, fam.evaluation_heading(task, result))
    return 0


def _print_result(result, as_json: bool, heading: str) -> None:
    """One JSON object (the graders' format), or a heading and the result's table."""
    if as_json:     # strict JSON: a mean over no successful episode is null, never NaN
        print(json.dumps(json_safe(result.to_json()), allow_nan=False))
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
    parser.add_argument("--seed", type=seed, default=0)
    parser.add_argument("--out", type=Path, required=True,
                        help="directory for checkpoint.pt and log.csv")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--updates", type=int, default=None,
                        help="train until this many PPO updates in total "
                             "(default: the setting's budget in rl2_course/settings.py)")
    budget.add_argument("--minutes", type=positive_number, default=None,
                        help="train for this many minutes in total")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from the weights of this checkpoint (same actions and "
                             "memory size; an attention memory may grow its context; e.g. an "
                             "agent trained on shorter trials); with --set init_parts=encoder only its "
                             "observation encoder")
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

    fam = FAMILIES[args.env]
    setting = [getattr(args, a.name) for a in fam.arguments]
    fam.check(fam.task(*setting))
    if args.init_from is not None and not args.resume and not args.init_from.is_file():
        # before --out is created (a resumed run no longer reads it); its contents are checked
        # when it is read
        what = "is a directory" if args.init_from.is_dir() else "does not exist"
        raise UsageError(f"--init-from {args.init_from} {what}; give a checkpoint file")
    options = dict(seed=args.seed, updates=args.updates, minutes=args.minutes,
                   device=args.device, **parse_overrides(args.overrides),
                   **({"init_from": str(args.init_from)} if args.init_from else {}))
    config = TrainConfig.for_task(args.env, *setting, **options)
    result = train(config, args.out, resume=args.resume, progress=not args.quiet)
    last = "n/a" if result.mean_return is None else f"{result.mean_return:.3f}"
    print(f"trained RL² on {fam.describe(config.task)}: {result.updates} updates, "
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
    if args.episodes is not None and args.size is not None:
        raise UsageError("export takes --episodes or --size, not both: export twice")
    if args.size is not None:
        from rl2_course.runs import play_on_maze_size

        print(f"wrote {play_on_maze_size(source, args.destination, args.size)}")
        return 0
    if args.episodes is not None:
        from rl2_course.runs import grow_context

        print(f"wrote {grow_context(source, args.destination, args.episodes)}")
        return 0
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
    """One notebook: its report, exit 0 when every exercise passes. A folder: the gradebook,
    exit 0 once it is written (a learner's failing exercise is not the grader's failure)."""
    from rl2_course import course
    from rl2_course.classroom import grade_folder, grade_notebook, print_gradebook, print_report

    limits = dict(solutions=args.solutions or course.SOLUTIONS_DIR, timeout=args.timeout,
                  cell_timeout=args.cell_timeout,
                  memory_limit=None if args.memory is None else args.memory * 1e9)
    if args.notebook.is_dir():
        folder = args.notebook.resolve()
        out = args.out or folder.parent / f"{folder.name or 'submissions'}-grades"   # '/' has no name
        print_gradebook(grade_folder(folder, out, **limits), out, args.json)
        return 0
    if args.out is not None:
        raise UsageError("--out is for a folder of submissions; a single notebook's report "
                         "goes to the standard output")
    report = grade_notebook(args.notebook, **limits)
    print_report(report, args.json)
    return 0 if report.all_passed else 1


def _assignment(args: argparse.Namespace) -> int:
    from rl2_course.classroom import build_assignment

    print(f"wrote {build_assignment(args.out, repository=args.repository)}")
    return 0


# -- analyse: inside the fast learner (chapter 05) ---------------------------------------------

def _analyse_parser(commands) -> None:
    """``analyse {probes,behaviour,ood}``: what a trained agent's GRU knows, where it breaks."""
    analyse = commands.add_parser("analyse", help="look inside trained RL² agents: probes, "
                                                  "decisions against Bayes-optimal, out of distribution")
    analyses = analyse.add_subparsers(dest="analysis", required=True, parser_class=_Parser)

    def agent_options(parser: argparse.ArgumentParser, trials: int) -> None:
        parser.add_argument("--arms", type=int, required=True, help="k of the trained bandit agent")
        parser.add_argument("--episodes", type=int, required=True, help="n it was trained for")
        _result_options(parser, trials, "RL² checkpoint (default: the pretrained one in "
                                        "assets/checkpoints)")

    probes = analyses.add_parser("probes", help="linear probes from the GRU state to each arm's "
                                                "posterior and to the Bayes-optimal (or Gittins) action")
    agent_options(probes, 2000)
    probes.add_argument("--alpha", type=nonnegative_number, default=None,
                        help="ridge penalty on standardised hidden units (default 1.0)")
    probes.set_defaults(run=_analyse_probes)

    behaviour = analyses.add_parser("behaviour", help="every decision against the exact "
                                                      "Bayes-optimal policy (settings with a solvable DP)")
    agent_options(behaviour, 10_000)
    behaviour.add_argument("--agents", type=agent_names,
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
    ood_bandit.add_argument("--priors", type=beta_priors, default=None,
                            help="Beta priors A:B to test at the training n (default: 0.5:0.5,2:5)")
    ood_bandit.add_argument("--agents", type=agent_names, default=None,
                            help="comma-separated baselines (default: ucb1,thompson,gittins,random)")
    ood_bandit.set_defaults(run=_analyse_ood_bandit)
    ood_mdp = ood_envs.add_parser("mdp", help="other episode lengths and trial lengths "
                                              "(10 states, 5 actions: fixed by the network)")
    ood_mdp.add_argument("--episodes", type=int, required=True, help="n the MDP agent was trained for")
    ood_mdp.add_argument("--horizons", type=int_list, default=None,
                         help="steps per episode to test at the training n (default: 10,5,20)")
    ood_mdp.add_argument("--lengths", type=int_list, default=None,
                         help="episodes per trial to test at 10 steps (default: 2n)")
    ood_mdp.add_argument("--agents", type=agent_names, default=None,
                         help="comma-separated baselines (default: beb,psrl,greedy,random)")
    _result_options(ood_mdp, 1000, "RL² checkpoint (default: assets/checkpoints/mdp-nN.pt)")
    ood_mdp.set_defaults(run=_analyse_ood_mdp)

    memory = analyses.add_parser("memory", help="is the memory used: return of each episode, "
                                                "the cost of wiping it, how long the gates hold")
    memory_envs = memory.add_subparsers(dest="env", required=True, parser_class=_Parser)
    for fam in (FAMILIES["bandit"], FAMILIES["mdp"]):
        sub = memory_envs.add_parser(fam.name, help=fam.title)
        _task_arguments(sub, fam)
        _result_options(sub, 1000, _PRETRAINED)
        sub.add_argument("--agents", type=agent_names, default=["greedy"],
                         help="baselines shown beside rl2 and rl2-forgetful (default: greedy)")
        sub.set_defaults(run=_analyse_memory)


def _analyse_probes(args: argparse.Namespace) -> int:
    from rl2_course.analysis.probes import DEFAULT_ALPHA, probe_bandit_agent

    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    report = probe_bandit_agent(args.arms, args.episodes, args.trials, args.seed,
                                checkpoint=args.checkpoint, alpha=alpha)
    _print_result(report, args.json,
                  f"linear probes on the GRU state of the RL² agent for k={args.arms}, "
                  f"n={args.episodes}: {args.trials} trials ({report.test_trials} held out), "
                  f"seed {args.seed}, ridge alpha {alpha:g}; control: a random network, same inputs")
    return 0


def _analyse_behaviour(args: argparse.Namespace) -> int:
    from rl2_course.analysis.behaviour import compare_with_bayes_optimal

    report = compare_with_bayes_optimal(args.agents, args.arms, args.episodes, args.trials,
                                        args.seed, checkpoint=args.checkpoint)
    _print_result(report, args.json,
                  f"decisions against the Bayes-optimal policy (value {report.value:.3f}) on "
                  f"k={args.arms}, n={args.episodes} bandits, {args.trials} trials, seed {args.seed}")
    return 0


def _analyse_ood_bandit(args: argparse.Namespace) -> int:
    from rl2_course.analysis import ood
    from rl2_course.envs.bandit import describe_prior, task_prior

    n = args.episodes
    report = ood.bandit_ood(args.arms, n, ood.bandit_conditions(n, args.lengths, args.priors),
                            trials=args.trials, seed=args.seed,
                            agents=args.agents or ood.BANDIT_OOD_AGENTS, checkpoint=args.checkpoint)
    prior = describe_prior(task_prior(report.trained.get("prior")))
    return _print_ood(report, args, f"bandit k={args.arms}, n={n}, arm means from {prior}")


def _analyse_ood_mdp(args: argparse.Namespace) -> int:
    from rl2_course.analysis import ood

    n = args.episodes
    report = ood.mdp_ood(n, ood.mdp_conditions(n, args.horizons, args.lengths),
                         trials=args.trials, seed=args.seed,
                         agents=args.agents or ood.MDP_OOD_AGENTS, checkpoint=args.checkpoint)
    return _print_ood(report, args, f"random MDPs, n={n} episodes of 10 steps")


def _analyse_memory(args: argparse.Namespace) -> int:
    from rl2_course.analysis.memory import memory_report

    fam = FAMILIES[args.env]
    task = fam.task_from_args(args)
    report = memory_report(args.env, task, args.trials, args.seed, checkpoint=args.checkpoint,
                           agents=tuple(args.agents))
    _print_result(report, args.json,
                  f"memory of the RL² agent for {fam.describe(task)}: {args.trials} trials, seed "
                  f"{args.seed}; mean return of each episode of a trial")
    return 0


def _print_ood(report, args: argparse.Namespace, what: str) -> int:
    _print_result(report, args.json,
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
