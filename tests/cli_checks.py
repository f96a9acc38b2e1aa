"""What a user's mistake must look like on the command line, shared by the CLI tests. Imported
as ``cli_checks``: pytest puts ``tests/`` on ``sys.path``."""

from __future__ import annotations


def one_error(result: object, code: int, fragment: str) -> str:
    """The single ``actcmp: error:`` line of ``result`` (exit ``code``), holding ``fragment``."""
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1, output
    assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]
