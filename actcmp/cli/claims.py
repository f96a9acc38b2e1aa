"""``actcmp claims``: one small sweep per common claim about activation functions, then
claims.md / claims.html with each claim's statistic, figure and verdict."""

from __future__ import annotations

from typing import Annotated

import typer

from actcmp.cli.base import EXIT_INTERRUPTED, EXIT_TERMINATED, figure_formats, guarded, out_path


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
    only: Annotated[str | None, typer.Option(help="comma-separated claims, e.g. linear,dying or 1,3,A1")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a field in every claim sweep: KEY=VALUE (repeatable), e.g. epochs=2"),
    ] = None,
    engine: Annotated[str, typer.Option(help="auto | plain | batched")] = "auto",
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto", envvar="ACTCMP_DEVICE")] = "cpu",
    formats: Annotated[str, typer.Option(help="figure formats, comma-separated (png, pdf, svg)")] = "png,pdf,svg",
) -> None:
    """Check common claims about activation functions: run one small sweep per claim
    (resuming), then write claims.md / claims.html with each claim's statistic, figure
    and verdict.

    ACTCMP_JOBS, ACTCMP_DEVICE and ACTCMP_OUT apply as they do to 'actcmp run'.

    Example: actcmp claims --jobs 2 --out results/claims
    """
    from actcmp.claims.runner import run_claims
    from actcmp.cli.sweep import check_run_options
    from actcmp.config import parse_value, split_list
    from actcmp.overrides import parse_assignments
    from actcmp.progress import make_progress
    from actcmp.sweep_name import default_results_dir

    out = out_path(out_text) or default_results_dir("claims")
    # the checks of 'actcmp run' (ACTCMP_JOBS and ACTCMP_DEVICE included), with --report-only too
    check_run_options(engine=engine, backend="local", device=device, jobs=jobs, address=None, dry_run=True)
    wanted = figure_formats(formats)
    overrides = {k: parse_value(v) for k, v in parse_assignments(set_ or [], "--set").items()}
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
    for sweep in result.sweeps:  # e.g. a tuned sweep stored with per-seed splits: --out, not a rerun
        if sweep.warning:
            typer.echo(f"warning: {sweep.warning}", err=True)
    pending = sum(sweep.counts.get("pending", 0) for sweep in result.sweeps)
    if pending:
        planned = sum(sweep.planned for sweep in result.sweeps)
        typer.echo(
            f"note: {pending} of {planned} planned runs are not stored; the verdicts judge what is stored "
            f"({'run without --report-only to train them' if report_only else 'see claims.md'})",
            err=True,
        )
    if result.failed_runs:
        typer.echo(f"{result.failed_runs} runs failed; see actcmp status {out}/<sweep>", err=True)
        raise typer.Exit(1)
