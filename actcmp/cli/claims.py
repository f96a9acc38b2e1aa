"""``actcmp claims``: one small sweep per common claim about activation functions, then
claims.md / claims.html with each claim's statistic, figure and verdict."""

from __future__ import annotations

from typing import Annotated

import typer

from actcmp.cli.base import EXIT_INTERRUPTED, EXIT_TERMINATED, JsonFlag, figure_formats, guarded, out_path
from actcmp.errors import ConfigError


@guarded
def claims_cmd(
    out_text: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="where the claim sweeps, figures and claims.md/html go "
            "\\[default: $ACTCMP_OUT/claims/, ACTCMP_OUT defaulting to results]",
        ),
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="worker processes", envvar="ACTCMP_JOBS")] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress output")] = False,
    report_only: Annotated[bool, typer.Option("--report-only", help="train nothing: judge what is stored")] = False,
    only: Annotated[
        str | None,
        typer.Option(
            help="comma-separated claims to train and judge, by name or number, e.g. linear,dying or 1,3,A1 "
            "(see --list); the documents keep every other claim whose sweep is stored under --out, "
            "re-decided from its stored runs (not trained)"
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a field in every claim sweep: KEY=VALUE (repeatable), e.g. epochs=2"),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto | plain | batched")] = "auto",
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto", envvar="ACTCMP_DEVICE")] = "cpu",
    formats: Annotated[str, typer.Option(help="figure formats, comma-separated (png, pdf, svg)")] = "png,pdf,svg",
    list_: Annotated[
        bool,
        typer.Option(
            "--list", help="list the claims (number, name, sweep, claim) and exit; trains nothing; with --json as JSON"
        ),
    ] = False,
    json_: JsonFlag = False,
) -> None:
    """Check common claims about activation functions: run one small sweep per claim
    (resuming), then write claims.md / claims.html / claims.json with each claim's
    statistic, figure and verdict.

    The claims (number, name for --only): 1 linear, 2 relu_default, 3 dying,
    4 vanishing, 5 tanh_sigmoid, 6 generalisation, 7 softmax, 8 matters, A1 anomaly,
    A2 compression; --list says what each claims and which sweep of experiments/claims/
    tests it (--list --json: as JSON).

    With --only, only the named claims' sweeps train; the documents still cover every
    claim whose sweep is stored under --out (the others re-decided from their stored
    runs) and name those left out because nothing of theirs is stored.

    ACTCMP_JOBS, ACTCMP_DEVICE and ACTCMP_OUT apply as they do to 'actcmp run'.

    Example: actcmp claims --jobs 2 --out results/claims
    """
    if json_ and not list_:
        raise ConfigError("--json goes with --list (the verdicts are written to claims.json)")
    if list_:
        _list_claims(only, json_=json_, conflicting=report_only or bool(set_) or out_text is not None)
        return
    from actcmp.claims.runner import run_claims
    from actcmp.cli.sweep import check_run_options
    from actcmp.config import parse_value
    from actcmp.overrides import parse_assignments
    from actcmp.progress import make_progress
    from actcmp.sweep_name import default_results_dir

    names = only_names(only)  # before anything else: '--only ""' must never mean every claim
    out = out_path(out_text) or default_results_dir("claims")
    # the checks of 'actcmp run' (ACTCMP_JOBS and ACTCMP_DEVICE included), with --report-only too
    check_run_options(engine=engine, backend="local", device=device, jobs=jobs, address=None, dry_run=True)
    wanted = figure_formats(formats)
    overrides = {k: parse_value(v) for k, v in parse_assignments(set_ or [], "--set").items()}
    result = run_claims(
        out,
        only=names,
        overrides=overrides,
        train=not report_only,
        jobs=jobs,
        engine=engine,
        device=device,
        progress=lambda: make_progress(quiet),
        formats=wanted,
    )
    if result.interrupted:
        if result.late_interrupt:  # the sweeps' progress lines said nothing of it: no run was cut short
            typer.echo(
                f"actcmp: {'SIGTERM' if result.terminated else 'Ctrl-C'} came after a claim sweep's last run was "
                f"stored: the claim sweeps after it, if any, were not trained; {out / 'claims.html'} covers what is stored "
                "(run the same command again to finish)",
                err=True,
            )
        raise typer.Exit(EXIT_TERMINATED if result.terminated else EXIT_INTERRUPTED)
    if not quiet:
        width = max((len(doc.verdict.verdict) for doc in result.claims), default=0)
        for doc in result.claims:
            typer.echo(f"{doc.claim.number:>3}  {doc.verdict.verdict:<{width}}  {doc.claim.title}")
    typer.echo(f"claims report: {out / 'claims.html'} (and claims.md)")
    if names is not None:  # what else the documents hold (not a "note:": the runs note stays the one)
        typer.echo(result.only_note())
    for sweep in result.sweeps:  # e.g. a tuned sweep stored with per-seed splits: --out, not a rerun
        if sweep.warning:
            typer.echo(f"warning: {sweep.warning}", err=True)
    # the runs the command was asked to judge: with --only, the named claims' sweeps (the other
    # claims' sweeps, re-decided from what is stored, say their counts in claims.md)
    named = {doc.claim.sweep for doc in result.claims if names is None or doc.claim.key in result.chosen}
    asked = [sweep for sweep in result.sweeps if sweep.name in named]
    pending = sum(sweep.counts.get("pending", 0) for sweep in asked)
    if pending:
        planned = sum(sweep.planned for sweep in asked)
        typer.echo(
            f"note: {pending} of {planned} planned runs are not stored; the verdicts judge what is stored "
            f"({'run without --report-only to train them' if report_only else 'see claims.md'})",
            err=True,
        )
    if result.failed_runs:
        typer.echo(f"{result.failed_runs} runs failed; see actcmp status {out}/<sweep>", err=True)
        raise typer.Exit(1)


def only_names(only: str | None) -> list[str] | None:
    """``--only``'s claims (None: the option was not given). An empty value (``''``, ``','``)
    or an empty item (``linear,,dying``) is refused in one line: it used to mean every claim,
    and an empty ``--only`` in a script then trained every claim sweep."""
    from actcmp.overrides import list_items

    if only is None:
        return None
    names = [name.strip() for name in list_items(only, f"--only {only!r}")]
    if not names or not all(names):
        from actcmp.claims.registry import claim_keys

        raise ConfigError(
            f"--only: name at least one claim (got {only!r}; claims: {', '.join(claim_keys())}; "
            "see 'actcmp claims --list')"
        )
    return names


def _list_claims(only: str | None, *, json_: bool, conflicting: bool) -> None:
    """``--list`` (and ``--list --json``): every claim, or those of ``--only``; trains nothing."""
    from actcmp.claims.registry import CLAIMS
    from actcmp.claims.runner import select

    if conflicting:
        raise ConfigError(
            "--list lists the claims and trains nothing: it does not go with --report-only, --set or --out"
        )
    chosen = select(only_names(only)) if only is not None else list(CLAIMS)
    if json_:
        from actcmp.jsonout import dumps

        typer.echo(
            dumps(
                {
                    "schema": "actcmp.claims-list/1",
                    "claims": [
                        {
                            "number": c.number,
                            "key": c.key,
                            "title": c.title,
                            "claim": c.sentence,
                            "sweep": c.sweep,
                            "file": f"experiments/claims/{c.sweep}.toml",
                        }
                        for c in chosen
                    ],
                }
            )
        )
        return
    number = max(len(c.number) for c in chosen)
    key = max(len(c.key) for c in chosen)
    sweep = max(len(c.sweep) for c in chosen)
    for c in chosen:
        typer.echo(f"{c.number:>{number}}  {c.key:<{key}}  {c.sweep:<{sweep}}  {c.title}")
    typer.echo("sweeps: experiments/claims/<sweep>.toml; --only takes a name or a number")
