"""Writers: a formatted table and its bold mask as Markdown, LaTeX (booktabs, hand-written so
that no jinja2 is needed) or HTML (for the report). Cell text comes from users too (file
names): every writer escapes it."""

from __future__ import annotations

import html

import pandas as pd

from actcmp.report.format import MISSING
from actcmp.text import markdown_cell

#: a line break inside a table cell's text: HTML breaks the line there (a table with several
#: numbers in a cell stays narrow enough for a window); Markdown and LaTeX write a space
CELL_BREAK = "\n"


def _numeric_like(series: pd.Series) -> bool:
    def ok(text: str) -> bool:
        head = text.split(CELL_BREAK)[0].removeprefix("< ").split(" ")[0]  # a cell's first line decides
        if head in ("best", "diverged"):  # the words of a "p vs best" column
            return True
        try:
            float(head)
        except ValueError:
            return head == MISSING
        return True

    return len(series) > 0 and all(ok(str(v)) for v in series)


def markdown_escape(text: str) -> str:
    """Escape the characters that would make table text Markdown or HTML (names come from
    users: a file name may hold ``<script>``; see :func:`actcmp.text.markdown_cell`)."""
    return markdown_cell(text)


def markdown_name(text: object) -> str:
    """A name from a user (a file name, a label) for running Markdown text, a Findings link
    included: its Markdown punctuation (``*``, ``|``, ``[``, ...) escaped as
    :func:`markdown_escape` escapes it in the tables, its HTML left as it is: the text renderers
    show that as text (:func:`actcmp.text.markdown_text`, :func:`actcmp.report.render.inline`),
    and escaped here too it would read ``&lt;``."""
    import html

    return html.unescape(markdown_escape(str(text)))


def to_markdown(frame: pd.DataFrame, bold: pd.DataFrame) -> str:
    def cell(text: str, strong: bool) -> str:
        text = markdown_escape(str(text).replace(CELL_BREAK, " "))
        return f"**{text}**" if strong else text

    align = ["---:" if _numeric_like(frame[c]) else ":---" for c in frame.columns]
    lines = ["| " + " | ".join(markdown_escape(c) for c in frame.columns) + " |", "| " + " | ".join(align) + " |"]
    for i in range(len(frame)):
        lines.append(
            "| " + " | ".join(cell(frame.iat[i, j], bool(bold.iat[i, j])) for j in range(frame.shape[1])) + " |"
        )
    return "\n".join(lines) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "·": r"$\cdot$",
    # in text mode with the default (OT1) font encoding < and > print as ¡ and ¿
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "−": r"$-$",
    "α": r"$\alpha$",
    "χ": r"$\chi$",
    "²": r"\textsuperscript{2}",
    "…": r"\ldots{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


#: tables with more columns than this are set in \\small with narrower column gaps
LATEX_WIDE = 8
#: tables with more rows than this are a ``longtable`` (breaks across pages), not a float
LATEX_LONG = 40


def to_latex(
    frame: pd.DataFrame,
    bold: pd.DataFrame,
    group_by: list[str] | None = None,
    *,
    caption: str = "",
    label: str = "",
    notes: list[str] | None = None,
) -> str:
    """A booktabs tabular (needs ``\\usepackage{booktabs}``); ``\\addlinespace`` between
    groups of ``group_by`` columns. With ``caption`` or ``label``: a floating ``table``
    with ``\\caption`` and ``\\label{tab:LABEL}``, or past :data:`LATEX_LONG` rows a
    ``longtable`` (``\\usepackage{longtable}``) that repeats its header on every page;
    ``notes`` under it, in small type."""
    spec = "".join("r" if _numeric_like(frame[c]) else "l" for c in frame.columns)
    header = [r"\toprule", " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    body = _latex_rows(frame, bold, group_by or [])
    if not (caption or label):
        lines = [f"\\begin{{tabular}}{{{spec}}}", *header, *body, r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    title = (f"\\caption{{{latex_escape(caption)}}}" if caption else "") + (f"\\label{{tab:{label}}}" if label else "")
    wide = frame.shape[1] > LATEX_WIDE
    size = [r"\small", r"\setlength{\tabcolsep}{4pt}"] if wide else []
    # the default (OT1) encoding has no < or >: latex_escape writes \textless{} and \textgreater{}
    hint = [f"% {frame.shape[1]} columns: if wider than the page, set it in landscape (pdflscape)"] if wide else []
    tail = [f"\\par\\smallskip{{\\footnotesize {latex_escape(n)}\\par}}" for n in notes or []]
    if len(frame) > LATEX_LONG:
        lines = [
            r"% needs \usepackage{booktabs} and \usepackage{longtable}",
            *hint,
            "{" + "".join(size),
            f"\\begin{{longtable}}{{{spec}}}",
            title + r" \\",
            *header,
            r"\endfirsthead",
            *header,
            r"\endhead",
            r"\bottomrule",
            r"\endfoot",
            *body,
            r"\end{longtable}",
            *tail,
            "}",
        ]
    else:
        lines = [
            r"% needs \usepackage{booktabs}",
            *hint,
            r"\begin{table}[htbp]",
            r"\centering",
            *size,
            title,
            f"\\begin{{tabular}}{{{spec}}}",
            *header,
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *tail,
            r"\end{table}",
        ]
    return "\n".join(lines) + "\n"


def _latex_rows(frame: pd.DataFrame, bold: pd.DataFrame, group_by: list[str]) -> list[str]:
    """The tabular's rows, bold where ``bold`` says, ``\\addlinespace`` between groups."""
    body = []
    previous = None
    for i in range(len(frame)):
        group = tuple(frame[c].iat[i] for c in group_by if c in frame.columns)
        if previous is not None and group != previous:
            body.append(r"\addlinespace")
        previous = group
        cells = [latex_escape(str(frame.iat[i, j]).replace(CELL_BREAK, " ")) for j in range(frame.shape[1])]
        cells = [f"\\textbf{{{c}}}" if bool(bold.iat[i, j]) else c for j, c in enumerate(cells)]
        body.append(" & ".join(cells) + r" \\")
    return body


def to_html(frame: pd.DataFrame, bold: pd.DataFrame) -> str:
    numeric = [_numeric_like(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for i in range(len(frame)):
        cells = []
        for j in range(frame.shape[1]):
            text = "<br>".join(html.escape(line) for line in str(frame.iat[i, j]).split(CELL_BREAK))
            text = f"<strong>{text}</strong>" if bool(bold.iat[i, j]) else text
            cells.append(f'<td class="num">{text}</td>' if numeric[j] else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"


__all__ = [
    "CELL_BREAK",
    "LATEX_LONG",
    "LATEX_WIDE",
    "latex_escape",
    "markdown_escape",
    "markdown_name",
    "to_html",
    "to_latex",
    "to_markdown",
]
