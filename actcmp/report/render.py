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
from typing import Any

from actcmp.text import markdown_text


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


#: renders one block other than text and list: ``(kind, content) -> lines``
BlockRenderer = Callable[[str, Any], list[str]]

#: rules every page shares; a document appends its own (later rules win on a tie)
CSS = """
body { font-family: system-ui, sans-serif; max-width: 96rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
p, ul, ol, figcaption, h1, h2, h3 { max-width: 72rem; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1.5rem; }
th, td { padding: 0.15rem 0.45rem; border-bottom: 1px solid #ddd; text-align: left; }
th { border-bottom: 2px solid #444; vertical-align: bottom; }
img { max-width: 100%; height: auto; }
div.frame { overflow-x: auto; }
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
                out += [markdown_text(content), ""]
            elif kind == "list":
                out += [f"- {markdown_text(item)}" for item in content] + [""]
            else:
                out += block(kind, content)
    return "\n".join(squeeze(out)) + "\n"


# -- html ----------------------------------------------------------------------------------
#: a backslash escape of what :func:`actcmp.report.writers.markdown_name` escapes in a user's
#: name, or a code span (inside which a backslash is text, as in Markdown)
_ESCAPE_OR_CODE = re.compile(r"\\([\\`*|\[\]])|`[^`]+`")
#: escaped characters stand in the Unicode private use area while the forms are read
_STASH = 0xE000


def inline(text: Any) -> str:
    """Escape, then the inline Markdown forms the sections use: `code`, **bold** and
    [text](#anchor) links; a backslash-escaped ``\\ ` * | [ ]`` outside code (a user's name,
    :func:`actcmp.report.writers.markdown_name`) is the character itself, as in Markdown."""

    def stash(match: re.Match[str]) -> str:
        return chr(_STASH + ord(match.group(1))) if match.group(1) is not None else match.group(0)

    escaped = html.escape(_ESCAPE_OR_CODE.sub(stash, str(text)))
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    escaped = re.sub(r"\[([^\]]+)\]\(([^)\s\"<>]+)\)", r'<a href="\2">\1</a>', escaped)
    return re.sub("[\ue000-\ue07f]", lambda m: html.escape(chr(ord(m.group()) - _STASH)), escaped)


def png_dpi(png: bytes) -> float | None:
    """The resolution a PNG was saved at, from its ``pHYs`` chunk (matplotlib writes one);
    None when it has none or is not a PNG."""
    import struct

    at = png.find(b"pHYs", 8, 4096) if png.startswith(b"\x89PNG") else -1
    if at < 0 or len(png) < at + 13:
        return None
    per_x, _, unit = struct.unpack(">IIB", png[at + 4 : at + 13])
    return per_x * 0.0254 if unit == 1 and per_x else None


def png_width(png: bytes, dpi: float | None = None) -> str:
    """`` width="N"`` showing a PNG saved at ``dpi`` (by default the one it records) at its
    intended size (100 CSS px per inch); empty when ``png`` is not a PNG or says no dpi."""
    pixels = png_pixels(png)
    dpi = dpi or png_dpi(png)
    if pixels is None or not dpi:
        return ""
    return f' width="{round(pixels * 100 / dpi)}"'


def png_pixels(png: bytes) -> int | None:
    """A PNG's width in pixels (None when ``png`` is not a PNG)."""
    if len(png) < 24 or not png.startswith(b"\x89PNG"):
        return None
    return int.from_bytes(png[16:20], "big")


#: a figure is never shown smaller than this share of its intended size (8 pt labels stay
#: about 7 px high, and the image links to its full-size file); a wider one scrolls inside its
#: frame instead. At 0.8 the widest figure (latent space, 8 activations: 1860 px) overflowed a
#: 1300 px window, its last column hidden until one scrolled sideways; at 0.6 it fits from
#: a page about 1120 px wide (a 1150 px window)
MIN_SCALE = 0.6


def figure_html(png: bytes, alt: str, caption: str, *, dpi: float | None = None, href: str = "") -> str:
    """A ``<figure>`` with ``png`` embedded as base64 and ``caption`` (HTML) under it, shown
    at its intended size (:func:`png_width`; ``dpi``: the PNG's, when it does not record
    one), shrunk with the page down to :data:`MIN_SCALE` of it and no further (the frame
    scrolls). ``href``: a link on the image to the full-size file (click to enlarge)."""
    data = base64.b64encode(png).decode("ascii")
    width = png_width(png, dpi)
    style = ""
    if width:
        intended = int(width.split('"')[1])
        style = f' style="min-width: {round(intended * MIN_SCALE)}px"'
    image = f'<img alt="{html.escape(alt)}"{width}{style} src="data:image/png;base64,{data}">'
    if href:
        image = f'<a href="{html.escape(href)}" title="open the full-size figure">{image}</a>'
    return f'<figure><div class="frame">{image}</div><figcaption>{caption}</figcaption></figure>'


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
