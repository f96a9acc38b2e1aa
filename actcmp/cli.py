"""The ``actcmp`` command line: thin Typer commands over the library.

Every command parses its options, calls one library function and says where the output
went. A user's mistake (:class:`~actcmp.errors.ActcmpError`) becomes one line on stderr
and exit code 2. Heavy libraries (torch, pandas, matplotlib) are imported inside the
commands, so ``actcmp --help`` starts fast.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from actcmp.errors import ActcmpError, ConfigError

try:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - typer before it vendored click
    from click.exceptions import ClickException, NoArgsIsHelpError  # type: ignore[no-redef,assignment]

#: exit codes (README "Exit codes"): 0 success, 1 runtime failure or failed gate,
#: 2 usage or input error, 130 interrupted
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class OneLineErrors(TyperGroup):
    """Click's own usage errors (an option value of the wrong type, an unknown command, a
    missing argument) reported like every other mistake: one line on stderr, exit 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except ClickException as exc:
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            typer.echo(f"actcmp: error: {' '.join(exc.format_message().split())}{hint}", err=True)
            sys.exit(EXIT_USAGE)
        except typer.Abort:  # click's name for a Ctrl-C outside a command's own handling
            typer.echo("actcmp: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
    name="actcmp",
    help="Compare activation functions inside autoencoders: sweep grids, record loss curves and "
    "dead/saturated units per layer, write tables and figures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

F = TypeVar("F", bound=Callable[..., Any])


def _hide_flag_types() -> None:
    """Typer's rich help shows ``<bool>`` beside flags, which take no value: show nothing."""
    from typer.core import TyperOption

    original = getattr(TyperOption, "display_type_rich", None)
    if original is None or getattr(original, "_actcmp", False):  # pragma: no cover - another typer
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and not getattr(self, "count", False):
            return None
        return original(self, ctx)  # type: ignore[no-any-return]

    display_type_rich._actcmp = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_types()


def _show_version(value: bool) -> None:
    if value:
        from actcmp import __version__

        typer.echo(f"actcmp {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="print the version and exit", callback=_show_version, is_eager=True)
    ] = False,
) -> None:
    pass


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code`` (default: the usage error code)."""
    from actcmp.text import terminal_safe

    typer.echo(f"actcmp: error: {terminal_safe(message)}", err=True)
    raise typer.Exit(code)


def guarded(fn: F) -> F:
    """Turn library errors into one line + their exit code (2 usage, 1 runtime failure);
    an ``OSError`` into one line naming the path; Ctrl-C into exit 130 without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ActcmpError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, exc.exit_code)
        except sqlite3.DatabaseError as exc:  # a store damaged in a way the store's own checks missed
            if "disk is full" in str(exc):
                fail(f"disk full: results database: {exc}", EXIT_FAILURE)
            fail(f"results database: {exc} (is the file damaged?)")
        except OSError as exc:
            from actcmp.atomic import file_error

            error = file_error(exc.filename or "a file", exc, "cannot use")
            fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            typer.echo("actcmp: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _experiments_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "experiments", here.parent / "experiments"]


def bundled_sweeps() -> list[str]:
    """Names of the bundled sweeps: ``default``, ``smoke``, ``claims/dying``, ..."""
    names: set[str] = set()
    for folder in _experiments_dirs():
        if folder.is_dir():
            names.update(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.toml"))
    return sorted(names, key=lambda n: (n.count("/"), n))


def resolve_config_path(config: str) -> Path:
    """A sweep file, or the name of a bundled sweep (``default``, ``smoke``, ``claims/...``).

    An argument is a file path when it names an existing file or ends in ``.toml``;
    anything else is looked up among the bundled sweeps first, so that a folder called
    ``smoke`` in the current directory does not hide the bundled ``smoke``.
    """
    path = Path(config)
    if path.suffix == ".toml" or path.is_file():
        return path  # a missing file is reported by load_sweep
    for folder in _experiments_dirs():
        candidate = folder / f"{config}.toml"
        if candidate.is_file():
            return candidate
    names = bundled_sweeps()
    listing = f"bundled sweeps: {', '.join(names) or 'none'}"
    if path.is_dir():
        raise ConfigError(f"{config}: is a directory, expected a .toml sweep file or a bundled sweep name ({listing})")
    import difflib

    close = difflib.get_close_matches(config, names, n=1, cutoff=0.8)  # strict: the names share "claims/"
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"no sweep file '{config}'{hint} ({listing})")


def _parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict (a later item for a key wins); see :func:`_parse_pairs`."""
    return dict(_parse_pairs(items, option))


def _parse_pairs(items: list[str], option: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` items as (key, value) pairs, in order, repeats kept."""
    out: list[tuple[str, str]] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def out_path(text: str | None, option: str = "--out") -> Path | None:
    """An output path given as text, refusing an empty one: ``Path("")`` is the current
    directory, never what an empty variable in a script meant (``--out "$DIR"``)."""
    if text is None:
        return None
    if not text.strip():
        raise ConfigError(f"{option} is empty: give a directory")
    return Path(text)


#: the most torch threads a worker may ask for (more only oversubscribes the cores)
MAX_THREADS = 256

DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


def _check_run_options(
    *,
    engine: str,
    backend: str,
    device: str,
    jobs: int,
    address: str | None,
    dry_run: bool,
    threads: int | None = None,
) -> None:
    """Refuse bad option values before anything is planned, trained or written."""
    from actcmp.run.executors import BACKENDS
    from actcmp.run.sweep import ENGINES

    if engine not in ENGINES:
        raise ConfigError(f"--engine: unknown engine '{engine}' (available: {', '.join(ENGINES)})")
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown backend '{backend}' (available: {', '.join(BACKENDS)})")
    if not DEVICE_PATTERN.match(device):
        raise ConfigError(f"--device: unknown device '{device}' (choose cpu, cuda, cuda:N or auto)")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {threads}")
    if threads is not None and threads > MAX_THREADS:
        raise ConfigError(f"--threads {threads}: at most {MAX_THREADS} torch threads per worker")
    if threads is not None and backend == "ray":
        raise ConfigError("--threads is for --backend local (Ray workers get the CPUs Ray gives each task)")
    if address is not None and backend != "ray":
        raise ConfigError("--address is for --backend ray (the local backend runs on this machine)")
    if backend == "ray" and not dry_run:
        from actcmp.run.ray_executor import import_ray, split_address

        import_ray()  # installed and recent enough, or one line saying how to install it
        if address is not None:
            split_address(address)


class _Overrides:
    """Command-line values per key, refusing a key set twice on the command line."""

    def __init__(self) -> None:
        self.grid: dict[str, list[Any]] = {}
        self.fixed: dict[str, Any] = {}
        self.given: dict[str, str] = {}  # key -> how it was given, for messages

    def claim(self, key: str, shown: str) -> None:
        if key in self.given:
            raise ConfigError(f"{self.given[key]} and {shown} both set {key}: give it once")
        self.given[key] = shown

    def add_grid(self, key: str, values: list[Any], shown: str, option: str) -> None:
        from actcmp.config import check_values

        self.claim(key, shown)
        if not values:
            raise ConfigError(f"{option}: empty list")
        check_values(key, values, option)
        self.grid[key] = values

    def add_fixed(self, key: str, value: Any, shown: str, option: str) -> None:
        from actcmp.config import check_field

        self.claim(key, shown)
        check_field(key, value, option)
        self.fixed[key] = value


def _seed_list(text: str, max_runs: int) -> list[int]:
    from actcmp.config import split_list

    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ConfigError(f"--seeds {text}: need at least one seed")
            if count > max_runs:  # refused before a list of that length exists
                raise ConfigError(
                    f"--seeds {text}: more seeds than the limit of {max_runs:,} runs (raise it with --max-runs)"
                )
            return list(range(count))
        return [int(s) for s in split_list(text)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give a count (3) or a list of seeds (0,1,2)") from None


@app.command()
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
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="worker processes", envvar="ACTCMP_JOBS")] = 1,
    threads: Annotated[
        int | None,
        typer.Option(
            help="torch threads per worker \\[default: 1 with --jobs 1 unless OMP_NUM_THREADS is set; cores / jobs]"
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

    A sweep given only by options is named from what it varies (relu-gelu_digits_d1-2)
    unless --name is given. --epochs 0 trains nothing: each run measures the initial
    weights (dead units and loss at initialisation) and is stored as done.

    Example: actcmp run experiments/default.toml --depths 1,2 --seeds 2 --out results/quick
    """
    from actcmp.config import check_sweep_name
    from actcmp.shard import parse_shard

    if name is not None:
        check_sweep_name(name)
    out = out_path(out_text)
    if max_runs < 1:
        raise ConfigError(f"--max-runs must be at least 1, got {max_runs}")
    shard_spec = parse_shard(shard) if shard is not None else None
    _check_run_options(
        engine=engine, backend=backend, device=device, jobs=jobs, address=address, dry_run=dry_run, threads=threads
    )
    options_given = any(v is not None for v in (activations, datasets, depths, seeds, epochs)) or bool(set_ or grid)
    if config is None and not options_given:
        _usage_and_exit(
            ctx,
            "give a sweep file or a bundled sweep (actcmp run smoke), or what to vary "
            "(actcmp run --activations relu,gelu --datasets digits --depths 1,2); nothing was trained",
        )
    if json_ and not dry_run:
        raise ConfigError("--json goes with --dry-run (a sweep's results are read with 'actcmp status --json')")
    if max_retries is not None and backend != "ray":
        raise ConfigError("--max-retries is for --backend ray (the local backend does not retry)")
    if max_retries is not None and max_retries < 0:
        raise ConfigError(f"--max-retries must be 0 or more, got {max_retries}")
    from actcmp.config import SweepConfig, apply_overrides, check_size, load_sweep, parse_value, split_list

    auto_name = False
    if config is not None:
        sweep = load_sweep(resolve_config_path(config))
    else:
        sweep = SweepConfig(name=name or "cli").with_source("command line")
        auto_name = name is None
    over = _Overrides()
    for option, key, text in (
        ("--activations", "activation", activations),
        ("--datasets", "dataset", datasets),
        ("--depths", "depth", depths),
    ):
        if text is not None:
            values = split_list(text) if key != "depth" else [parse_value(v) for v in split_list(text)]
            over.add_grid(key, values, f"{option} {text}", option)
    if seeds is not None:
        over.add_grid("seed", _seed_list(seeds, max_runs), f"--seeds {seeds}", "--seeds")
    for key, value in _parse_pairs(grid or [], "--grid"):
        over.add_grid(key, [parse_value(v) for v in split_list(value)], f"--grid {key}={value}", "--grid")
    if epochs is not None:
        over.add_fixed("epochs", epochs, f"--epochs {epochs}", "--epochs")
    for key, value in _parse_pairs(set_ or [], "--set"):
        over.add_fixed(key, parse_value(value), f"--set {key}={value}", "--set")
    for key in over.fixed:
        if key in sweep.grid:
            shown = over.given[key]
            typer.echo(f"note: {shown} replaces the grid axis {key} = {_toml_list(sweep.grid[key])}", err=True)
    if auto_name:
        from actcmp.sweep_name import name_from_overrides

        name = name_from_overrides(over.grid, over.fixed)
    sweep = apply_overrides(sweep, grid=over.grid, fixed=over.fixed, name=name)
    if epochs == 0 and not json_:
        typer.echo("note: --epochs 0 trains nothing: each run measures the initial weights only", err=True)

    check_size(sweep.grid, max_runs, sweep.source)

    if dry_run:
        _print_plan(sweep, data_dir, shard_spec, shard, out, max_runs, as_json=json_)
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
    if summary.interrupted:
        if quiet:  # otherwise the progress output's last line has just said it (progress.summary_line)
            typer.echo(
                f"actcmp: interrupted: {summary.ran} runs stored now, {summary.left} left in {summary.out_dir}; "
                "run the same command again to resume",
                err=True,
            )
        raise typer.Exit(130)
    if summary.resumed_after_crash and not quiet:
        typer.echo("note: the previous sweep into this directory was killed; its stored runs were kept", err=True)
    if report and summary.done + summary.diverged + summary.skipped > 0:
        from actcmp.report import make_report

        make_report(summary.out_dir)
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


def _toml_list(values: list[Any]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


#: shown by --dry-run even when they do not vary (from the grid, the fixed fields or the defaults)
PLAN_KEYS = ("activation", "dataset", "depth", "seed", "epochs")


def _usage_and_exit(ctx: typer.Context, hint: str) -> None:
    """The command's usage line, then one error line; exit 2."""
    typer.echo(ctx.get_usage(), err=True)
    fail(f"{hint} (see '{ctx.command_path} --help')")


def _print_plan(
    sweep: Any,
    data_dir: Path | None,
    shard_spec: Any,
    shard: str | None,
    out: Path | None,
    max_runs: int,
    *,
    as_json: bool = False,
) -> None:
    from actcmp.config import RunConfig
    from actcmp.run.sweep import describe_plan
    from actcmp.sweep_name import default_results_dir

    plan = describe_plan(sweep, data_dir, shard_spec, max_runs=max_runs)
    target = out or default_results_dir(sweep.name)
    if as_json:
        from actcmp.jsonout import dumps, plan_document

        defaults = {
            k: RunConfig.model_fields[k].default for k in PLAN_KEYS if k not in sweep.grid and k not in plan["fixed"]
        }
        typer.echo(dumps(plan_document(plan, sweep.grid, defaults, target, shard)))
        return
    of_total = f" (shard {shard} of {plan['total']} runs)" if shard_spec else ""
    after = f" + up to {plan['tune']['evaluation_selected_at_most']} once selected" if "tune" in plan else ""
    typer.echo(f"sweep '{plan['name']}': {plan['runs']} runs{after}{of_total}")
    for key, values in plan["varied"].items():
        typer.echo(f"  {key} ({len(values)}): {', '.join(str(v) for v in values)}")
    for key, values in sweep.grid.items():
        if key not in plan["varied"]:
            typer.echo(f"  {key}: {', '.join(str(v) for v in values)}")
    for key in PLAN_KEYS:
        if key not in sweep.grid and key not in plan["fixed"]:
            typer.echo(f"  {key}: {RunConfig.model_fields[key].default} (default)")
    for key, value in plan["fixed"].items():
        typer.echo(f"  {key} = {value}")
    for dataset, count in plan["per_dataset"].items():
        typer.echo(f"  {dataset}: {count} runs")
    if "tune" in plan:  # [tune]: tuning and evaluation runs counted apart (actcmp.run.tune)
        from actcmp.run.tune import plan_lines

        for line in plan_lines(plan["tune"]):
            typer.echo(line)
    typer.echo(f"results -> {target}")


@app.command("report")
@guarded
def report_cmd(
    directory: Annotated[Path, typer.Argument(help="results directory")],
    formats: Annotated[str, typer.Option(help="figure formats, comma-separated (png, pdf, svg)")] = "png,pdf",
    out_text: Annotated[
        str | None, typer.Option("--out", metavar="DIR", help="where to write them \\[default: the results directory]")
    ] = None,
) -> None:
    """Write tables, figures, report.md and report.html from stored results (no training).

    --out writes them elsewhere (the results directory may then be read-only).

    Example: actcmp report results/default --formats png,pdf,svg
    """
    from actcmp.config import split_list
    from actcmp.report import make_report

    wanted = tuple(split_list(formats))
    bad = [f for f in wanted if f not in ("png", "pdf", "svg")]
    if bad or not wanted:
        raise ConfigError(f"--formats: unknown format {bad[0] if bad else '(empty)'!r} (choose from png, pdf, svg)")
    out = out_path(out_text)
    _warn_damaged(directory)
    paths = make_report(directory, formats=wanted, out=out)
    typer.echo(f"wrote {len(paths)} files; open {Path(out or directory) / 'report.html'}")


@app.command()
@guarded
def status(
    directory: Annotated[Path, typer.Argument(help="results directory")],
    json_: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")] = False,
) -> None:
    """Show done / pending / diverged / failed runs per cell; exit 1 if any are missing or failed.

    Works while a sweep is writing. With $GITHUB_STEP_SUMMARY set (GitHub Actions), also
    appends a Markdown summary there, so a CI job can gate on it and show it.

    Example: actcmp status results/default
    """
    from actcmp.analysis.status import cell_status, format_markdown, format_status, write_step_summary

    table = cell_status(directory)
    _warn_lines(table.damaged)
    from actcmp.text import terminal_safe

    if json_:
        from actcmp.jsonout import dumps, status_document

        typer.echo(dumps(status_document(table)))
        _step_summary(format_markdown(table), write_step_summary)
        if not table.complete:
            raise typer.Exit(1)
        return
    if table.cells:
        typer.echo(terminal_safe(format_status(table)))
    for rid, what, error in table.failures[:10]:
        typer.echo(terminal_safe(f"failed: {rid} {what}: {error}"))
    if len(table.failures) > 10:
        typer.echo(f"failed: ... and {len(table.failures) - 10} more")
    if table.shards:
        typer.echo(f"shards held here: {', '.join(table.shards)}")
    if table.writer:
        typer.echo(f"a sweep is writing here now (pid {table.writer.get('pid')} on {table.writer.get('host')})")
    from actcmp.run.tune import tune_status  # [tune]: tuning vs evaluation runs, selections, edge warnings

    tune_lines = tune_status(directory)
    for line in tune_lines:
        typer.echo(line)
    typer.echo(table.verdict())
    tune_block = "\n".join(["```", *tune_lines, "```", ""]) if tune_lines else ""
    _step_summary(format_markdown(table) + tune_block, write_step_summary)
    if not table.complete:
        raise typer.Exit(1)


def _warn_lines(lines: list[str], most: int = 10) -> None:
    """Warnings on stderr, one per line, at most ``most`` and a count of the rest."""
    from actcmp.text import terminal_safe

    for line in lines[:most]:
        typer.echo(f"actcmp: warning: {terminal_safe(line)}", err=True)
    if len(lines) > most:
        typer.echo(f"actcmp: warning: ... and {len(lines) - most} more", err=True)


def _warn_damaged(*directories: Path) -> None:
    """Name the stored rows that cannot be read (the command goes on without them)."""
    from actcmp.store.database import Store

    for directory in directories:
        with Store(directory, create=False) as store:
            _warn_lines([f"{directory}: {line}" for line in store.damaged_rows()])


def _step_summary(markdown: str, writer: Callable[[str], Any]) -> None:
    try:
        writer(markdown)
    except OSError as exc:
        typer.echo(f"actcmp: warning: cannot append to $GITHUB_STEP_SUMMARY ({exc.strerror})", err=True)


@app.command()
@guarded
def merge(
    out_text: Annotated[
        str, typer.Argument(metavar="OUT", help="merged results directory (created; results already there are kept)")
    ],
    directories: Annotated[list[Path], typer.Argument(help="results directories to merge, e.g. one per shard")],
    json_: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")] = False,
    prefer: Annotated[
        Path | None,
        typer.Option(
            help="for runs whose results differ because they ran on different CPU kernels or versions, keep the "
            "copy in this directory (one of the inputs, or OUT)"
        ),
    ] = None,
) -> None:
    """Merge results directories (e.g. CI shards) into OUT; refuses conflicts, atomically.

    The same run in several directories with identical results is kept once; different
    results for one run, the same shard twice, or stores of another version are refused
    and OUT is left as it was. The same merge run again is a no-op. Runs whose results
    differ because they ran on different CPU kernel families (or versions) are refused
    with what differs; --prefer DIR keeps that directory's copies.

    Example: actcmp merge results/default shard-1 shard-2 shard-3 shard-4
    """
    from actcmp.store.merge import merge_results

    out = out_path(out_text, "OUT")
    assert out is not None
    report = merge_results(out, list(directories), prefer=prefer)
    if json_:
        from actcmp.jsonout import dumps, merge_document

        for line in report.missing:
            typer.echo(f"actcmp: warning: {line}", err=True)
        typer.echo(dumps(merge_document(report)))
        return
    parts = " + ".join(str(n) for n in report.added)
    count = len(report.sources)
    typer.echo(
        f"merged {count} results director{'y' if count == 1 else 'ies'} into {report.out}: {report.total_runs} runs "
        f"({parts}), {len(report.duplicates)} duplicates"
    )
    if report.duplicates:
        shown = ", ".join(rid for rid, _, _ in report.duplicates[:5]) + (" ..." if len(report.duplicates) > 5 else "")
        typer.echo(
            f"duplicates: {len(report.duplicates)} runs stored more than once with identical results, "
            f"kept once: {shown}"
        )
    if report.preferred:
        shown = ", ".join(rid for rid, _, _ in report.preferred[:5]) + (" ..." if len(report.preferred) > 5 else "")
        typer.echo(
            f"preferred: {len(report.preferred)} runs differed between environments, kept the copy in "
            f"{report.preferred[0][1]}: {shown}"
        )
    for rid, failed_in, finished_in in report.replaced_failed:
        typer.echo(f"run {rid}: failed in {failed_in}, finished in {finished_in}: kept the finished one")
    for line in report.missing:
        typer.echo(f"actcmp: warning: {line}", err=True)


@app.command()
@guarded
def compare(
    new: Annotated[Path, typer.Argument(help="results directory to check")],
    baseline: Annotated[Path, typer.Argument(help="results directory to compare against")],
    metric: Annotated[str, typer.Option(help="final metric to compare")] = "test_loss",
    k: Annotated[float, typer.Option("--k", help="limit in pooled seed standard deviations")] = 3.0,
    rtol: Annotated[float, typer.Option(help="floor of the limit, relative to the baseline mean")] = 0.01,
    atol: Annotated[float, typer.Option(help="absolute floor of the limit")] = 1e-6,
    show_all: Annotated[bool, typer.Option("--all", help="show every cell, not only those that moved")] = False,
    json_: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")] = False,
) -> None:
    """Flag cells whose mean metric moved beyond their seed spread; exit 1 if any got worse.

    A cell regressed when |mean_new - mean_baseline| > max(k x pooled seed std, atol,
    rtol x |mean_baseline|) in the bad direction, or when more of its runs diverged;
    a cell of the baseline missing from NEW also fails the check.

    Example: actcmp compare results/nightly results/baseline --k 3
    """
    from actcmp.analysis.compare import compare_results, format_comparison, format_markdown
    from actcmp.analysis.status import write_step_summary

    _warn_damaged(new, baseline)
    comparison = compare_results(new, baseline, metric=metric, k=k, rtol=rtol, atol=atol)
    if json_:
        from actcmp.jsonout import compare_document, dumps

        typer.echo(dumps(compare_document(comparison, new, baseline)))
    else:
        typer.echo(format_comparison(comparison, show_all=show_all))
    _step_summary(format_markdown(comparison, new, baseline), write_step_summary)
    if comparison.failed:
        raise typer.Exit(1)


@app.command()
@guarded
def activations(
    plot: Annotated[str | None, typer.Option(help="draw f(x) and f'(x) of these, e.g. relu,tanh")] = None,
    out: Annotated[Path, typer.Option(help="figure file for --plot (.png, .pdf or .svg)")] = Path("activations.png"),
    json_: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")] = False,
) -> None:
    """List the activation registry with formulas and derivatives, or plot some.

    Example: actcmp activations --plot relu,leaky_relu,sigmoid,tanh --out act.png
    """
    from actcmp.core.activations import ALIASES, list_activations

    if json_ and plot is not None:
        raise ConfigError("--json lists the registry; it does not go with --plot")
    if json_:
        from actcmp.jsonout import activations_document, dumps

        typer.echo(dumps(activations_document()))
        return
    if plot is None:
        rows = [("name", "family", "init", "parameters", "f(x)", "f'(x)")]
        for info in list_activations():
            params = ", ".join(f"{k}={v}" for k, v in info.defaults.items()) or "-"
            family = info.family + (" (output only)" if info.output_only else "")
            rows.append((info.name, family, info.init, params, info.formula, info.derivative_formula))
        typer.echo(_format_rows(rows))
        typer.echo("aliases: " + ", ".join(f"{a} = {t}" for a, t in sorted(ALIASES.items())))
        typer.echo("your own: package.module:callable (an nn.Module class or an elementwise function)")
        return
    from actcmp.config import split_list
    from actcmp.core.activations import parse_activation
    from actcmp.report.plots import plot_activation_functions, save

    names = [parse_activation(n).canonical for n in split_list(plot)]
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"--out {out}: use a .png, .pdf or .svg file name")
    figure = plot_activation_functions(names)
    save(figure, out.with_suffix(""), (out.suffix.lower().lstrip("."),))
    typer.echo(f"wrote {out}")


@app.command("datasets")
@guarded
def datasets_cmd(
    json_: Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")] = False,
) -> None:
    """List the datasets (all offline) with size, default output activation and loss.

    Example: actcmp datasets
    """
    if json_:
        from actcmp.jsonout import datasets_document, dumps

        typer.echo(dumps(datasets_document()))
        return
    from actcmp.datasets import list_datasets

    rows = [("name", "features", "output", "loss", "labels", "anomalies", "source", "description")]
    for info in list_datasets():
        rows.append(
            (
                info.name,
                str(info.n_features or "?"),
                info.output_activation,
                info.loss,
                "yes" if info.has_labels else "no",
                "yes" if info.has_anomalies else "no",
                info.source,
                info.description,
            )
        )
    typer.echo(_format_rows(rows))
    for info in list_datasets():
        if info.provenance:
            typer.echo(f"{info.name}: {info.provenance}")
    typer.echo(
        "your own: csv:PATH, parquet:PATH (optionally #label=COLUMN), npy:PATH; "
        "#anomaly=COLUMN (npy: a column number; non-zero = anomaly) trains on normal rows only"
    )


@app.command()
@guarded
def export(
    directory: Annotated[Path, typer.Argument(help="results directory")],
    format_: Annotated[
        str,
        typer.Option(
            "--format",
            help="parquet | csv | mlflow (pip install 'actcmp\\[mlflow]') | tensorboard (pip install 'actcmp\\[tensorboard]')",
        ),
    ] = "parquet",
    out_text: Annotated[
        str | None,
        typer.Option("--out", metavar="DIR", help="output directory \\[default: DIR/export/, DIR/export/mlflow/, ...]"),
    ] = None,
) -> None:
    """Export stored results as Parquet or CSV files, an MLflow store or TensorBoard logs.

    parquet/csv: the frames runs, epochs, layers, planned. mlflow: one experiment per
    sweep, one MLflow run per actcmp run (params, per-epoch metrics, tags), the report's
    figures in a 'summary' run. tensorboard: scalars per run and the HParams table.
    An earlier mlflow/tensorboard export at the same place is replaced.

    Example: actcmp export results/default --format mlflow
    """
    out = out_path(out_text)
    if format_ == "mlflow":
        from actcmp.store.export_mlflow import export_mlflow

        written = export_mlflow(directory, out)
        runs = sum(written.experiments.values())
        typer.echo(
            f"wrote {runs} MLflow runs in {len(written.experiments)} experiment(s) to {written.path}; "
            f"view: MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {written.uri}"
        )
        return
    if format_ == "tensorboard":
        from actcmp.store.export_tensorboard import export_tensorboard

        logs = export_tensorboard(directory, out)
        typer.echo(f"wrote TensorBoard logs of {logs.runs} runs to {logs.path}; view: tensorboard --logdir {logs.path}")
        return
    from actcmp.store.export import export_results

    _warn_damaged(directory)
    paths = export_results(directory, format_, out)
    typer.echo(f"wrote {', '.join(str(p) for p in paths)}")


def _format_rows(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@app.command("claims")
@guarded
def claims(
    out: Annotated[Path, typer.Option(help="where the claim sweeps, figures and claims.md/html go")] = Path(
        "results/claims"
    ),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="worker processes")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    report_only: Annotated[bool, typer.Option("--report-only", help="train nothing: judge what is stored")] = False,
    only: Annotated[str | None, typer.Option(help="comma-separated claims, e.g. linear,dying or 1,3,A1")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a field in every claim sweep: KEY=VALUE (repeatable), e.g. epochs=2"),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto | plain")] = "auto",
    device: Annotated[str, typer.Option(help="cpu | cuda | auto")] = "cpu",
    formats: Annotated[str, typer.Option(help="figure formats, comma-separated (png, pdf, svg)")] = "png,pdf,svg",
) -> None:
    """Check common claims about activation functions: run one small sweep per claim
    (resuming), then write claims.md / claims.html with each claim's statistic, figure
    and verdict.

    Example: actcmp claims --jobs 2 --out results/claims
    """
    from actcmp.claims.runner import run_claims
    from actcmp.cli import _parse_assignments
    from actcmp.config import parse_value, split_list
    from actcmp.errors import ConfigError
    from actcmp.progress import make_progress

    wanted = tuple(split_list(formats))
    bad = [f for f in wanted if f not in ("png", "pdf", "svg")]
    if bad or not wanted:
        raise ConfigError(f"--formats: unknown format {bad[0] if bad else '(empty)'!r} (choose from png, pdf, svg)")
    overrides = {k: parse_value(v) for k, v in _parse_assignments(set_ or [], "--set").items()}
    result = run_claims(
        out,
        only=split_list(only) if only else None,
        overrides=overrides,
        train=not report_only,
        jobs=jobs,
        engine=engine,
        device=device,
        progress=lambda: make_progress(quiet),
        formats=wanted,
    )
    if result.interrupted:
        raise typer.Exit(130)
    if not quiet:
        for doc in result.claims:
            typer.echo(f"{doc.claim.number:>3}  {doc.verdict.verdict:<14} {doc.claim.title}")
    typer.echo(f"claims report: {out / 'claims.html'} (and claims.md)")
    if result.failed_runs:
        typer.echo(f"{result.failed_runs} runs failed; see actcmp status {out}/<sweep>", err=True)
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except ActcmpError as exc:  # pragma: no cover - guarded() handles commands
        typer.echo(f"actcmp: error: {exc}", err=True)
        sys.exit(exc.exit_code)
