"""``python -m actcmp.claims``: the ``claims`` command on its own."""

from __future__ import annotations

import typer

from actcmp.claims.cli import register


def main() -> None:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)

    @app.callback()
    def _root() -> None:  # keeps "claims" as a named sub-command
        """actcmp claims"""

    app()


if __name__ == "__main__":
    main()
