"""Text from users (file names, label columns, activation names) made safe where it is shown.

* :func:`terminal_safe`: no control characters on a terminal (a name holding ``ESC[2J``
  must not clear the screen, nor a carriage return overwrite a line).
* :func:`markdown_cell`: table text that stays text in Markdown (no ``<script>``, no
  pipes or emphasis breaking the table).
* :func:`markdown_text`: running Markdown that keeps its own `code` and **bold** forms
  but shows any HTML in it as text.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, and C1 controls (CSI 0x9b included)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*|\[\]])")


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 run``, ``2 runs`` (``nouns``: the plural where it is not ``noun + "s"``)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def terminal_safe(text: object) -> str:
    """``text`` with control characters shown as ``?`` (newlines and tabs kept)."""
    return _CONTROL.sub("?", str(text))


def _html_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_cell(text: object) -> str:
    """A Markdown table cell or heading word: HTML shown as text, Markdown punctuation
    escaped, control characters and newlines removed."""
    clean = terminal_safe(text).replace("\n", " ").replace("\t", " ")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _html_text(clean))


def markdown_text(text: object) -> str:
    """Running Markdown: HTML outside `code` spans shown as text (inside one it is text
    already); control characters removed."""
    parts = re.split(r"(`[^`\n]*`)", terminal_safe(text))
    return "".join(
        part if part.startswith("`") and part.endswith("`") and len(part) > 1 else _html_text(part) for part in parts
    )


__all__ = ["markdown_cell", "markdown_text", "terminal_safe"]
