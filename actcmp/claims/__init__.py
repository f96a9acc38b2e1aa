"""Check common claims about activation functions against stored results.

``actcmp claims`` (or :func:`run_claims`) runs one small sweep per claim from
``experiments/claims/`` (resuming what is stored), decides each claim with a tested
function from :mod:`actcmp.claims.checks` and writes ``claims.md``, a self-contained
``claims.html``, ``claims.json`` and the figures (PNG, PDF, SVG).

Modules: :mod:`~actcmp.claims.registry` (the claim records: text, sweep, rule),
:mod:`~actcmp.claims.checks` (one verdict function per claim, by kind of claim),
:mod:`~actcmp.claims.conditions` (verdict maps), :mod:`~actcmp.claims.context` (what a
claim reads), :mod:`~actcmp.claims.decisions`, :mod:`~actcmp.claims.drawings` and
:mod:`~actcmp.claims.tables` (a claim's verdict, figure and tables from its context),
:mod:`~actcmp.claims.figures` and :mod:`~actcmp.claims.explaining` (the plots),
:mod:`~actcmp.claims.document`, :mod:`~actcmp.claims.runner`, :mod:`actcmp.cli` (the
``claims`` command).
Heavy imports happen inside functions, so importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_claims"]


def run_claims(*args: Any, **kwargs: Any) -> Any:
    """See :func:`actcmp.claims.runner.run_claims`."""
    from actcmp.claims.runner import run_claims as run

    return run(*args, **kwargs)
