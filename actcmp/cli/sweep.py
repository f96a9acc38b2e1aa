"""``actcmp run``: options -> a sweep config (:mod:`actcmp.overrides`) -> a dry-run plan
or :func:`actcmp.run.sweep.run_sweep`, then one line per outcome."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from actcmp.cli.base import EXIT_INTERRUPTED, EXIT_TERMINATED, fail, given, guarded, not_an_option, out_path
from actcmp.errors import ConfigError
from actcmp.text import plural

if TYPE_CHECKING:  # the modules are imported inside the command: --help stays light
    from actcmp.config import SweepConfig
    from actcmp.run.sweep import SweepSummary

#: the most torch threads a worker may ask for (more only oversubscribes the cores)
MAX_THREADS = 256

DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


def check_run_options(
    *,
    engine: str,
    backend: str,
    device: str,
    jobs: int,
    address: str | None,
    dry_run: bool,
    threads: int | None = None,
) -> None:
    """Refuse bad option values before anything is planned, trained or written (an
    environment variable's value is named as such: the user may never have typed the option)."""
    from actcmp.run.executors import BACKENDS
    from actcmp.run.sweep import ENGINES

    if engine not in ENGINES:
        raise ConfigError(f"--engine: unknown engine '{engine}' (available: {', '.join(ENGINES)})")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend '{backend}' (available: {', '.join(BACKENDS)})")
    if not DEVICE_PATTERN.match(device):
        raise ConfigError(
            f"{given('--device', device, 'ACTCMP_DEVICE')}: unknown device '{device}' (choose cpu, cuda, cuda:N or auto)"
        )
    if jobs < 1:
        raise ConfigError(f"{given('--jobs', jobs, 'ACTCMP_JOBS')} must be at least 1, got {jobs}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if threads is not None and threads > MAX_THREADS:
        raise ConfigError(f"--threads {threads}: at most {MAX_THREADS} torch threads per worker")
    if threads is not None and backend == "ray":
        raise ConfigError("--threads is for --backend local (Ray workers get the CPUs Ray gives each task)")
    if address is not None and backend != "ray":
        raise ConfigError("--address is for --backend ray (the local backend runs on this machine)")
    from actcmp.datasets.cache import check_cache_setting

    check_cache_setting()  # ACTCMP_DATASET_CACHE naming a file: every worker would skip the cache silently
    if backend == "ray" and not dry_run:
        from actcmp.run.ray_executor import import_ray, split_address

        import_ray()  # installed and recent enough, or one line saying how to install it
        if address is not None:
            split_address(address)


@guarded
def run(
    ctx: typer.Context,
    config: Annotated[
        str | None,
        typer.Argument(help="sweep TOML file, or a bundled sweep: default, smoke, claims/<name> (see experiments/)"),
    ] = None,
    activations: Annotated[str | None, typer.Option(help="comma-separated activations, e.g. relu,gelu")] = None,
    datasets: Annotated[str | None, typer.Option(help="comma-separated datasets, e.g. digits,mnist1d")] = None,
    depths: Annotated[str | None, typer.Option(help="comma-separated depths, e.g. 1,2,4,8")] = None,
    seeds: Annotated[str | None, typer.Option(help="number of seeds (3 = 0,1,2) or a list 0,5,7")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="training epochs for every run (0: no training, measure the initial weights)")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="fix a field: KEY=VALUE (repeatable); replaces a grid axis of the file, with a note"
        ),
    ] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="vary a field: KEY=V1,V2 (repeatable)")] = None,
    out_text: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="results directory \\[default: $ACTCMP_OUT/<sweep name>/, ACTCMP_OUT defaulting to results]",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="sweep name \\[default: the file's name; on the command line, built from what it varies]"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the grid size and plan, train nothing")] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="with --dry-run: the plan as one JSON document on stdout (schema: README)")
    ] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="redo runs that are already stored")] = False,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", help="worker processes (with --report: its figures too)", envvar="ACTCMP_JOBS"),
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch threads per worker, for its work around the runs: on the CPU every run trains and measures "
            "on one thread, so that its numbers do not depend on this "
            "\\[default: 1 with --jobs 1 unless OMP_NUM_THREADS is set; cores / jobs]"
        ),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto | plain | batched")] = "auto",
    backend: Annotated[str, typer.Option(help="local | ray (needs pip install 'actcmp\\[ray]')")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster HOST:PORT \\[env RAY_ADDRESS; none: a local Ray instance]")
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            help="--backend ray: times Ray reruns a task whose worker or node died \\[default: Ray's, 3]; "
            "after that its runs stay pending for the next run"
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto", envvar="ACTCMP_DEVICE")] = "cpu",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="where IDX files live \\[default: the user cache dir, actcmp/data]", envvar="ACTCMP_DATA_DIR"
        ),
    ] = None,
    report: Annotated[bool, typer.Option("--report", help="write the report when the sweep finishes")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    shard: Annotated[
        str | None,
        typer.Option(help="run only shard I of N (I/N, numbered from 1), e.g. 2/4; merge with 'actcmp merge'"),
    ] = None,
    max_runs: Annotated[
        int, typer.Option(help="refuse a grid of more runs than this (its size is checked before it is expanded)")
    ] = 100_000,
) -> None:
    """Train a sweep of autoencoders and store the results (resumes what is stored).

    A killed or interrupted sweep continues where it stopped when run again; a second
    sweep into a directory that one is writing to is refused. --shard I/N splits the grid
    into N balanced parts (one per CI job); 'actcmp merge' puts them back together.

    Options override the sweep file: --activations, --datasets, --depths, --seeds and
    --grid replace its grid axes; --epochs and --set fix a field. A key given twice on
    the command line (--depths 4 --grid depth=1,2) is an error; --set on a grid axis of
    the file fixes it to one value and says so on stderr.

    A sweep given only by options varies something (--activations, --datasets, --depths,
    --seeds or --grid; --epochs and --set alone are refused) and is named from what it
    varies (relu-gelu_digits_d1-2) unless --name is given. --epochs 0 trains nothing: each run measures the initial
    weights (dead units and loss at initialisation) and is stored as done.

    Example: actcmp run experiments/default.toml --depths 1,2 --seeds 2 --out results/quick
    """
    from actcmp.config import check_sweep_name
    from actcmp.shard import parse_shard

    if name is not None:
        check_sweep_name(not_an_option(name, "--name", path=False))
    out = out_path(out_text)
    if data_dir is not None:
        not_an_option(str(data_dir), "--data-dir")
    if max_runs < 1:
        raise ConfigError(f"--max-runs must be at least 1, got {max_runs}")
    shard_spec = parse_shard(shard) if shard is not None else None
    check_run_options(
        engine=engine, backend=backend, device=device, jobs=jobs, address=address, dry_run=dry_run, threads=threads
    )
    # a sweep given by options varies something: --epochs and --set alone (the sweep file forgotten)
    # would train the defaults' single run; their values are checked first, below
    nothing_to_vary = config is None and not any(v is not None for v in (activations, datasets, depths, seeds, grid))
    if nothing_to_vary and not (set_ or epochs is not None):
        _nothing_to_run(ctx)
    if json_ and not dry_run:
        raise ConfigError("--json goes with --dry-run (a sweep's results are read with 'actcmp status --json')")
    if max_retries is not None and backend != "ray":
        raise ConfigError("--max-retries is for --backend ray (the local backend does not retry)")
    if max_retries is not None and max_retries < 0:
        raise ConfigError(f"--max-retries must be 0 or more, got {max_retries}")
    from actcmp.config import check_sweep_size
    from actcmp.overrides import sweep_from_command_line

    sweep = sweep_from_command_line(
        config,
        activations=activations,
        datasets=datasets,
        depths=depths,
        seeds=seeds,
        epochs=epochs,
        grid=grid or [],
        fixed=set_ or [],
        name=name,
        max_runs=max_runs,
        note=lambda line: typer.echo(line, err=True),
    )
    if nothing_to_vary:  # --epochs / --set only, their values valid
        _nothing_to_run(ctx, fixed=[*([f"--epochs {epochs}"] if epochs is not None else []), *(set_ or [])])
    if epochs == 0 and not json_:
        typer.echo("note: --epochs 0 trains nothing: each run measures the initial weights only", err=True)

    check_sweep_size(sweep, max_runs)  # a tuned sweep's candidates count too

    if dry_run:
        _print_plan(sweep, data_dir, shard_spec, shard, out, max_runs, as_json=json_, fresh=fresh)
        return

    from actcmp.progress import make_progress
    from actcmp.run.sweep import run_sweep

    summary = run_sweep(
        sweep,
        out,
        fresh=fresh,
        jobs=jobs,
        engine=engine,
        device=device,
        data_dir=data_dir,
        progress=make_progress(quiet),
        shard=shard_spec,
        backend=backend,
        address=address,
        threads=threads,
        max_runs=max_runs,
        executor_options={"max_retries": max_retries} if max_retries is not None else None,
    )
    _say_how_it_ended(summary, quiet=quiet, write_report=report, jobs=jobs)


def _say_how_it_ended(summary: SweepSummary, *, quiet: bool, write_report: bool, jobs: int = 1) -> None:
    """Where the results went, the report if asked for; exit 130 when interrupted, 1 when
    runs failed or tasks were lost. ``jobs``: processes drawing the report's figures."""
    if summary.interrupted:
        if quiet:  # otherwise the progress output's last line has just said it (progress.summary_line)
            from actcmp.progress import resume_hint

            typer.echo(
                f"actcmp: interrupted: {plural(summary.ran, 'run')} stored now, {summary.left} "
                f"{'tuning runs left, then the selection and the evaluation runs,' if summary.stopped_tuning else 'left'}"
                f" in {summary.out_dir}; {resume_hint(summary.fresh)}",
                err=True,
            )
        raise typer.Exit(EXIT_TERMINATED if summary.terminated else EXIT_INTERRUPTED)
    if summary.late_interrupt:  # every run was stored before it came: the sweep is complete
        signal_name = "SIGTERM" if summary.terminated else "Ctrl-C"
        if write_report:  # the report asked for is not written: the command did not do its job
            typer.echo(
                f"actcmp: {signal_name} came after the last run was stored: the sweep is complete, the report was "
                f"not written (actcmp report {summary.out_dir})",
                err=True,
            )
            raise typer.Exit(EXIT_TERMINATED if summary.terminated else EXIT_INTERRUPTED)
        typer.echo(f"note: {signal_name} came after the last run was stored: the sweep is complete", err=True)
    if summary.resumed_after_crash and not quiet:
        typer.echo("note: the previous sweep into this directory was killed; its stored runs were kept", err=True)
    if summary.other_sweeps and not quiet:
        names = ", ".join(repr(name) for name in summary.other_sweeps)
        typer.echo(
            f"note: {summary.out_dir} also holds sweep(s) {names}: its status and report cover them all "
            "(--out another directory keeps sweeps apart)",
            err=True,
        )
    if summary.kernel_families:
        typer.echo(
            f"actcmp: warning: {summary.out_dir} holds runs of {len(summary.kernel_families)} CPU kernel families "
            f"({', '.join(summary.kernel_families)}): compare their cells over seeds; a run's numbers repeat bit for "
            "bit only on its own family",
            err=True,
        )
    if write_report and summary.done + summary.diverged + summary.skipped > 0:
        from actcmp.report import make_report

        try:
            make_report(summary.out_dir, jobs=jobs)
        except KeyboardInterrupt as stop:  # the runs are stored: say so, and how to finish the report
            from actcmp.signals import Terminated

            terminated = isinstance(stop, Terminated)
            typer.echo(
                f"actcmp: {'terminated (SIGTERM)' if terminated else 'interrupted'} while writing the report: the "
                f"sweep's runs are stored, the report is not finished (actcmp report {summary.out_dir})",
                err=True,
            )
            raise typer.Exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
        if not quiet:
            typer.echo(f"report: {summary.out_dir / 'report.html'}", err=True)
    if not quiet:
        typer.echo(f"results: {summary.out_dir}  (tables and figures: actcmp report {summary.out_dir})", err=True)
    if summary.backend_log and not quiet and _nonempty(summary.backend_log):
        typer.echo(f"Ray's own messages: {summary.backend_log}", err=True)
    if summary.failed or summary.lost_tasks:
        for line in summary.failures[:10]:
            typer.echo(f"{'lost' if line.startswith('task lost') else 'failed'}: {line}", err=True)
        raise typer.Exit(1)


def _nonempty(path: str) -> bool:
    try:
        return Path(path).stat().st_size > 0
    except OSError:
        return False


def _check_results_dir(target: Path) -> set[str] | None:
    """The results directory, or a folder above it, is a file; or the database in it cannot be
    opened as an actcmp store (a directory in its place, a foreign or damaged file), or holds
    another results version: one line, as the run says it. The database is opened read-only
    (the run's full page check of an existing database is left to the run). Returns the run
    ids it holds done or diverged (what a run skips); None where there is no store."""
    from actcmp.config import RESULTS_VERSION
    from actcmp.store.database import Store, db_path, other_version_error, refuse_foreign_directory

    for place in (target, *target.parents):
        if place.exists():
            if not place.is_dir():
                what = "results directory" if place == target else f"cannot create results directory {target}:"
                raise ConfigError(f"{what} {place} is a file, not a directory")
            break
    refuse_foreign_directory(target)
    database = db_path(target)
    if not (database.exists() or database.is_symlink()):
        return None
    with Store(target, create=False) as store:
        if store.results_version != RESULTS_VERSION:  # readers accept it; a run would refuse
            raise other_version_error(target, store.results_version)
        return store.finished_ids()


def _note_other_settings(sweep: SweepConfig, target: Path, data_dir: Path | None = None) -> None:
    """--dry-run says what the run would: the directory holds this sweep's name with other
    settings (:func:`actcmp.run.sweep.other_settings`), or runs on another version of a data
    file the sweep names (:func:`actcmp.run.sweep.data_versions_note`; a grid too big to
    plan run by run is not checked)."""
    from actcmp.run.plan import PLAN_IN_FULL, plan_runs, sweep_id
    from actcmp.run.sweep import data_versions_note, other_versions, version_note
    from actcmp.store.database import Store

    with Store(target, create=False) as store:
        stored = [e for e in store.sweeps() if e["sweep_id"] != sweep_id(sweep)]
        configs = list(store.expected_configs().values())
    notes = [version_note(target, sweep.name, *other_versions(sweep, stored))]
    if sweep.size() <= PLAN_IN_FULL and any(cfg.get("data_fingerprint") for cfg in configs):
        notes.append(data_versions_note(target, plan_runs(sweep, data_dir, build=False), configs))
    for note in notes:
        if note is not None:
            typer.echo(f"note: {note}", err=True)


#: shown by --dry-run even when they do not vary (from the grid, the fixed fields or the defaults)
PLAN_KEYS = ("activation", "dataset", "depth", "seed", "epochs")


def _nothing_to_run(ctx: typer.Context, *, fixed: list[str] | None = None) -> None:
    """``actcmp run`` without a sweep file and without anything to vary: its usage, one
    error line, exit 2 (``fixed``: the --epochs and --set given, which vary nothing)."""
    fixed = [item if item.startswith("--epochs") else f"--set {item}" for item in fixed or []]
    verb = "fixes a field and varies" if len(fixed) == 1 else "fix fields and vary"
    given_only = f"{' and '.join(fixed)} {verb} nothing: " if fixed else ""
    _usage_and_exit(
        ctx,
        f"{given_only}give a sweep file or a bundled sweep (actcmp run smoke), or what to vary "
        "(actcmp run --activations relu,gelu --datasets digits --depths 1,2); nothing was trained",
    )


def _usage_and_exit(ctx: typer.Context, hint: str) -> None:
    """The command's usage line, then one error line; exit 2."""
    typer.echo(ctx.get_usage(), err=True)
    fail(f"{hint} (see '{ctx.command_path} --help')")


def _print_plan(
    sweep: SweepConfig,
    data_dir: Path | None,
    shard_spec: tuple[int, int] | None,
    shard: str | None,
    out: Path | None,
    max_runs: int,
    *,
    as_json: bool = False,
    fresh: bool = False,
) -> None:
    from actcmp.config import RunConfig
    from actcmp.run.sweep import describe_plan, refuse_per_seed_tuned
    from actcmp.sweep_name import default_results_dir

    target = out or default_results_dir(sweep.name)
    finished = _check_results_dir(Path(target))  # refused as the run would; what it would skip
    if sweep.tune is not None:  # what the run would refuse or adopt from the directory, the plan says now
        from actcmp.run.tune import as_stored

        refuse_per_seed_tuned(Path(target))
        sweep, adopted = as_stored(sweep, Path(target), data_dir)
        if adopted:
            typer.echo(f"note: {adopted}", err=True)
    if finished is not None:  # the directory holds a store: this sweep's name with other settings?
        _note_other_settings(sweep, Path(target), data_dir)
    plan = describe_plan(sweep, data_dir, shard_spec, max_runs=max_runs, finished=finished)
    # explicit widths set the depth (len + 1): it is not at its default then
    by_widths = "widths" in sweep.grid or plan["fixed"].get("widths") is not None
    shown_defaults = [
        k for k in PLAN_KEYS if k not in sweep.grid and k not in plan["fixed"] and not (k == "depth" and by_widths)
    ]
    if as_json:
        from actcmp.jsonout import dumps, plan_document

        defaults = {k: RunConfig.model_fields[k].default for k in shown_defaults}
        typer.echo(dumps(plan_document(plan, sweep.grid, defaults, target, shard)))
        return
    of_total = f" (shard {shard} of {plan['total']} runs)" if shard_spec else ""
    after = f" + up to {plan['tune']['evaluation_selected_at_most']} once selected" if "tune" in plan else ""
    typer.echo(f"sweep '{plan['name']}': {plural(plan['runs'], 'run')}{after}{of_total}")
    for key, values in plan["varied"].items():
        typer.echo(f"  {key} ({len(values)}): {', '.join(str(v) for v in values)}")
    for key, values in sweep.grid.items():
        if key not in plan["varied"]:
            typer.echo(f"  {key}: {', '.join(str(v) for v in values)}")
    for key in shown_defaults:
        typer.echo(f"  {key}: {RunConfig.model_fields[key].default} (default)")
    if by_widths and "depth" not in sweep.grid and "depth" not in plan["fixed"]:
        widths = plan["fixed"].get("widths")
        typer.echo(f"  depth: {len(widths) + 1 if widths is not None else 'per widths'} (set by widths: len + 1)")
    for key, value in plan["fixed"].items():
        typer.echo(f"  {key} = {value}")
    for dataset, count in plan["per_dataset"].items():
        typer.echo(f"  {dataset}: {plural(count, 'run')}")
    points = sweep.size()
    if "tune" not in plan and plan["total"] < points:  # e.g. relu and ReLU, or a parameter at its default
        typer.echo(
            f"  note: {points - plan['total']} of the grid's {points} points name the same run as another "
            "(two spellings of one activation or dataset, a parameter at its default): each runs once"
        )
    if "tune" in plan:  # [tune]: tuning and evaluation runs counted apart (actcmp.run.tune)
        from actcmp.run.tune import plan_lines

        for line in plan_lines(plan["tune"], fresh=fresh):
            typer.echo(line)
    elif plan["stored"] is not None:
        left = plan["runs"] - plan["stored"]
        skip = "--fresh trains them again" if fresh else f"a run skips them; {left} to train"
        typer.echo(f"  already stored: {plan['stored']} of {plan['runs']} ({skip})")
    typer.echo(f"results -> {target}")
