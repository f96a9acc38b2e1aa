"""``actcmp activations`` and ``actcmp datasets``: the two registries, listed (or, for
activations, plotted)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from actcmp.cli.base import JsonFlag, guarded
from actcmp.errors import ConfigError


@guarded
def activations(
    plot: Annotated[str | None, typer.Option(help="draw f(x) and f'(x) of these, e.g. relu,tanh")] = None,
    out: Annotated[
        Path | None, typer.Option(help="figure file for --plot (.png, .pdf or .svg) \\[default: activations.png]")
    ] = None,
    json_: JsonFlag = False,
) -> None:
    """List the activation registry with formulas and derivatives, or plot some.

    Example: actcmp activations --plot relu,leaky_relu,sigmoid,tanh --out act.png
    """
    from actcmp.core.activations import ALIASES, list_activations

    if json_ and plot is not None:
        raise ConfigError("--json lists the registry; it does not go with --plot")
    if out is not None and plot is None:
        raise ConfigError(f"--out {out} goes with --plot (it names the figure file); the list is printed")
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
    from actcmp.core.activations import parse_activation
    from actcmp.overrides import list_items
    from actcmp.report.plots import plot_activation_functions, save

    items = [item.strip() for item in list_items(plot, f"--plot {plot}")]
    if not items or not all(items):
        raise ConfigError(f"--plot {plot!r}: name at least one activation, e.g. --plot relu,tanh")
    names = [parse_activation(n).canonical for n in items]
    out = out if out is not None else Path("activations.png")
    if out.suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ConfigError(f"--out {out}: use a .png, .pdf or .svg file name")
    figure = plot_activation_functions(names)
    save(figure, out.with_suffix(""), (out.suffix.lower().lstrip("."),))
    typer.echo(f"wrote {out}")


@guarded
def datasets_cmd(
    json_: JsonFlag = False,
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


def _format_rows(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
