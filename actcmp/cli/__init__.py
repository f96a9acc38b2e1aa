"""The ``actcmp`` command line: thin Typer commands over the library.

Every command parses its options, calls one library function and says where the output
went. A user's mistake (:class:`~actcmp.errors.ActcmpError`) becomes one line on stderr
and exit code 2. Heavy libraries (torch, pandas, matplotlib) are imported inside the
commands, so ``actcmp --help`` starts fast.

    base.py        the Typer app, one-line errors and exit codes, shared options
    sweep.py       run (command-line words -> a sweep: actcmp.overrides)
    results.py     report, status, merge, compare, export
    registries.py  activations, datasets
    claims.py      claims

The commands are registered here, in the order ``actcmp --help`` lists them.
"""

from __future__ import annotations

from actcmp.cli.base import app, help_paragraphs, main
from actcmp.cli.claims import claims_cmd
from actcmp.cli.registries import activations, datasets_cmd
from actcmp.cli.results import compare, export, merge, report_cmd, status
from actcmp.cli.sweep import run
from actcmp.moved import moved_names

for name, command in (
    ("run", run),
    ("report", report_cmd),
    ("status", status),
    ("merge", merge),
    ("compare", compare),
    ("activations", activations),
    ("datasets", datasets_cmd),
    ("export", export),
    ("claims", claims_cmd),
):
    app.command(name, help=help_paragraphs(command))(command)


# names this module held before the restructuring, now defined elsewhere: still importable
# from here (see actcmp.moved)
__getattr__ = moved_names(
    __name__,
    {
        "EXIT_USAGE": "actcmp.cli.base",
        "EXIT_FAILURE": "actcmp.cli.base",
        "EXIT_INTERRUPTED": "actcmp.cli.base",
        "OneLineErrors": "actcmp.cli.base",
        "guarded": "actcmp.cli.base",
        "fail": "actcmp.cli.base",
        "out_path": "actcmp.cli.base",
        "F": "actcmp.cli.base",
        "DEVICE_PATTERN": "actcmp.cli.sweep",
        "MAX_THREADS": "actcmp.cli.sweep",
        "PLAN_KEYS": "actcmp.cli.sweep",
        "resolve_config_path": "actcmp.config",
        "bundled_sweeps": "actcmp.config",
    },
)


__all__ = ["app", "main"]
