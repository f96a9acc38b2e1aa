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

from actcmp.cli.base import app, main
from actcmp.cli.claims import claims_cmd
from actcmp.cli.registries import activations, datasets_cmd
from actcmp.cli.results import compare, export, merge, report_cmd, status
from actcmp.cli.sweep import run

app.command()(run)
app.command("report")(report_cmd)
app.command()(status)
app.command()(merge)
app.command()(compare)
app.command()(activations)
app.command("datasets")(datasets_cmd)
app.command()(export)
app.command("claims")(claims_cmd)

__all__ = ["app", "main"]
