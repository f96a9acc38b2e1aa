"""Pages made of sections, as Markdown and as self-contained HTML.

Shared by the report (:mod:`actcmp.report.document`) and the claims document
(:mod:`actcmp.claims.document`). A page is a title and a list of :class:`Section`; each
section is a title and blocks ``(kind, content)``. :func:`markdown_page` and
:func:`html_page` draw the page skeleton and the two kinds every document has,
``("text", str)`` and ``("list", [str])``, and hand any other kind to the document's own
block renderer (Markdown lines or HTML fragments; none for a kind it does not know).
Text takes three inline Markdown forms, `code`, **bold** and [links](#anchor) (:func:`inline`
turns them into HTML); figures are embedded as base64 PNG (:func:`figure_html`), so the HTML page needs
no other file.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class FigureDoc:
    """A written figure: file stem (relative to the document's figure links), title,
    caption, PNG bytes, and the formats written."""

    stem: str
    title: str
    caption: str
    png: bytes
    formats: tuple[str, ...]


@dataclass
class Section:
    """A titled part of a page; ``anchor`` (HTML only) is the heading's id."""

    title: str
    blocks: list[tuple[str, Any]]
    anchor: str = ""


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to a temp file beside ``path`` and rename it
    over ``path``: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(path)
    return path


#: renders one block other than text and list: ``(kind, content) -> lines``
BlockRenderer = Callable[[str, Any], list[str]]

#: rules every page shares; a document appends its own (later rules win on a tie)
CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }
th { border-bottom: 2px solid #444; }
img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9rem; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


# -- markdown ------------------------------------------------------------------------------
#: figure formats Markdown viewers show inline (GitHub, VS Code, ...)
INLINE_FORMATS = ("png", "svg")


def markdown_links(stem: str, formats: Sequence[str]) -> str:
    """``[png](STEM.png), [pdf](STEM.pdf)``: a link to each written format."""
    return ", ".join(f"[{fmt}]({stem}.{fmt})" for fmt in formats)


def markdown_figure(stem: str, alt: str, formats: Sequence[str]) -> tuple[str, str]:
    """``(image, links)`` for a figure written as ``STEM.FORMAT`` in ``formats``: an inline
    image of the first format a Markdown viewer renders (png or svg; ``""`` when neither
    was written) and links to the other formats (``""`` when there are none)."""
    shown = next((fmt for fmt in formats if fmt in INLINE_FORMATS), None)
    image = f"![{alt}]({stem}.{shown})" if shown else ""
    return image, markdown_links(stem, [fmt for fmt in formats if fmt != shown])


def squeeze(lines: list[str]) -> list[str]:
    """Drop repeated and trailing blank lines."""
    kept: list[str] = []
    for line in lines:
        if line == "" and kept and kept[-1] == "":
            continue
        kept.append(line.rstrip("\n"))
    while kept and kept[-1] == "":
        kept.pop()
    return kept


def markdown_anchor(anchor: str) -> str:
    """An HTML anchor line before a Markdown heading, so that ``[text](#anchor)`` links
    land on it in any viewer (GitHub, VS Code, pandoc), whatever it derives from titles."""
    return f'<a id="{html.escape(anchor)}"></a>'


def markdown_page(title: str, sections: Sequence[Section], block: BlockRenderer, *, anchors: bool = False) -> str:
    """The page as Markdown; with ``anchors``, each section's ``anchor`` as an HTML anchor
    above its heading (:func:`markdown_anchor`)."""
    out = [f"# {title}", ""]
    for section in sections:
        if anchors and section.anchor:
            out.append(markdown_anchor(section.anchor))
        out += [f"## {section.title}", ""]
        for kind, content in section.blocks:
            if kind == "text":
                out += [content, ""]
            elif kind == "list":
                out += [f"- {item}" for item in content] + [""]
            else:
                out += block(kind, content)
    return "\n".join(squeeze(out)) + "\n"


# -- html ----------------------------------------------------------------------------------
def inline(text: Any) -> str:
    """Escape, then the inline Markdown forms the sections use: `code`, **bold** and
    [text](#anchor) links."""
    escaped = html.escape(str(text))
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"\[([^\]]+)\]\(([^)\s\"<>]+)\)", r'<a href="\2">\1</a>', escaped)


def png_width(png: bytes, dpi: int) -> str:
    """`` width="N"`` showing a PNG saved at ``dpi`` at its intended size (100 CSS px per
    inch); empty when ``png`` is not a PNG."""
    if len(png) < 24 or not png.startswith(b"\x89PNG"):
        return ""
    pixels = int.from_bytes(png[16:20], "big")
    return f' width="{round(pixels * 100 / dpi)}"'


def figure_html(png: bytes, alt: str, caption: str, *, dpi: int | None = None) -> str:
    """A ``<figure>`` with ``png`` embedded as base64 and ``caption`` (HTML) under it; with
    ``dpi``, sized to show the PNG at its intended size (:func:`png_width`)."""
    data = base64.b64encode(png).decode("ascii")
    width = png_width(png, dpi) if dpi else ""
    return (
        f'<figure><img alt="{html.escape(alt)}"{width} src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def html_page(title: str, sections: Sequence[Section], block: BlockRenderer, css: str = CSS) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        anchor = f' id="{section.anchor}"' if section.anchor else ""
        body.append(f"<h2{anchor}>{html.escape(section.title)}</h2>")
        for kind, content in section.blocks:
            if kind == "text":
                body.append(f"<p>{inline(content)}</p>")
            elif kind == "list":
                body.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in content) + "</ul>")
            else:
                body += block(kind, content)
    head = f'<meta charset="utf-8"><title>{html.escape(title)}</title><style>{css}</style>'
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>{head}</head>\n<body>\n' + "\n".join(body) + "\n</body>\n</html>\n"
    )
