"""The Typer app and what every command shares: one-line errors and their exit codes,
output paths, figure formats, the ``--json`` option.

Imports nothing heavy: ``actcmp --help`` loads this, the commands' modules and Typer only.
"""

from __future__ import annotations

import functools
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
#: 2 usage or input error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

#: the figure formats a report can write
FIGURE_FORMATS = ("png", "pdf", "svg")

#: ``--json`` of the commands that print one JSON document
JsonFlag = Annotated[bool, typer.Option("--json", help="one JSON document on stdout (schema: README)")]
#: a results directory given as the first argument
ResultsDir = Annotated[Path, typer.Argument(help="results directory")]


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


def help_paragraphs(command: Callable[..., Any]) -> str:
    """A command's docstring as its ``--help`` text: paragraphs kept, the line breaks inside
    a paragraph joined (Typer's rich help keeps them, and at another terminal width they
    break sentences in odd places)."""
    import inspect

    text = inspect.cleandoc(command.__doc__ or "")
    return "\n\n".join(" ".join(line.strip() for line in part.splitlines()) for part in text.split("\n\n"))


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code`` (default: the usage error code)."""
    from actcmp.text import terminal_safe

    typer.echo(f"actcmp: error: {terminal_safe(message)}", err=True)
    raise typer.Exit(code)


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end has closed (``actcmp status DIR | head -1``
    after ``head`` exits), asked of the descriptor without writing to it; False where it
    cannot be told (no descriptor, no ``poll``)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


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
        except BrokenPipeError as exc:
            if stdout_reader_gone():  # `| head` left: click's own quiet exit 1
                raise
            from actcmp.atomic import file_error  # another pipe (a worker's): one line, as any OSError

            error = file_error(exc.filename or "a pipe", exc, "cannot use")
            fail(str(error), error.exit_code)
        except OSError as exc:
            from actcmp.atomic import file_error

            error = file_error(exc.filename or "a file", exc, "cannot use")
            fail(str(error), error.exit_code)
        except KeyboardInterrupt as stop:
            from actcmp.signals import Terminated

            if isinstance(stop, Terminated):
                typer.echo("actcmp: terminated (SIGTERM)", err=True)
                raise typer.Exit(EXIT_TERMINATED) from None
            typer.echo("actcmp: interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]


def not_an_option(text: str, option: str, *, path: bool = True) -> str:
    """Refuse an option's value that starts with ``-``: Click takes the next word as the
    value of an option whose value was forgotten (``--out --dry-run`` would train into a
    folder named ``--dry-run``). A real path that starts with ``-`` is written ``./-x``."""
    if text.startswith("-"):
        how = f"a directory of that name is written ./{text}" if path else "a name cannot start with '-'"
        raise ConfigError(
            f"{option} {text!r}: looks like an option, not a value (was {option}'s value left out?); {how}"
        )
    return text


def out_path(text: str | None, option: str = "--out") -> Path | None:
    """An output path given as text, refusing an empty one: ``Path("")`` is the current
    directory, never what an empty variable in a script meant (``--out "$DIR"``), and,
    for an option, one that starts with ``-`` (:func:`not_an_option`)."""
    if text is None:
        return None
    if not text.strip():
        raise ConfigError(f"{option} is empty: give a directory")
    if option.startswith("-"):
        not_an_option(text, option)
    return Path(text)


def figure_formats(text: str) -> tuple[str, ...]:
    """``--formats png,pdf``: figure formats, each one of :data:`FIGURE_FORMATS`."""
    from actcmp.config import split_list

    wanted = tuple(split_list(text))
    bad = [f for f in wanted if f not in FIGURE_FORMATS]
    if bad or not wanted:
        raise ConfigError(f"--formats: unknown format {bad[0] if bad else '(empty)'!r} (choose from png, pdf, svg)")
    return wanted


def main() -> None:
    """Console-script entry point (and ``python -m actcmp``'s)."""
    try:
        app()
    except ActcmpError as exc:  # pragma: no cover - guarded() handles commands
        typer.echo(f"actcmp: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    finally:  # the exit code is decided: a Ctrl-C handled on the way must not turn it into -2
        from actcmp.signals import forget_caught_interrupts

        forget_caught_interrupts()


def given(option: str, value: object, env: str) -> str:
    """How an error names a value: ``option``, or ``--jobs (ACTCMP_JOBS=0)`` where the
    environment variable holds that value (the user may never have typed the option; Typer
    keeps where a value came from in a private API, so the value is compared)."""
    import os

    set_to = os.environ.get(env)
    if set_to is not None and set_to.strip() == str(value):
        return f"{option} ({env}={set_to.strip()})"
    return option
