"""``python -m actcmp.claims``: the ``claims`` command on its own (``actcmp claims``)."""

from __future__ import annotations

import sys

from actcmp.cli import app


def main() -> None:
    app(["claims", *sys.argv[1:]])


if __name__ == "__main__":
    main()
