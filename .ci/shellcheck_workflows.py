"""Run shellcheck on every ``run:`` script of the given GitHub workflow files.

``${{ expr }}`` is replaced by an unquoted shell variable, so an expression left unquoted
in a word is flagged like any variable (SC2086). Prints ``file: job/step: finding`` lines
and exits 1 on findings. Used by ``make lint`` (needs PyYAML, from the dev extra, and
shellcheck).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
# SC2016: a placeholder inside single quotes is not an expression GitHub leaves unexpanded
EXCLUDE = "SC2016"


def scripts(path: Path) -> list[tuple[str, str]]:
    workflow = yaml.safe_load(path.read_text()) or {}
    found = []
    for job_id, job in (workflow.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" in step:
                found.append((f"{job_id}/{step.get('name') or step.get('id') or index}", str(step["run"])))
    return found


def check(path: Path) -> int:
    findings = 0
    for where, script in scripts(path):
        body = EXPRESSION.sub("$GITHUB_EXPRESSION", script)
        # GitHub runs run: steps with bash -e -o pipefail {0}
        source = "#!/usr/bin/env bash\nset -eo pipefail\n" + body
        result = subprocess.run(
            ["shellcheck", "--shell=bash", f"--exclude={EXCLUDE}", "--format=gcc", "-"],
            input=source,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in result.stdout.splitlines():
            # gcc format "-:LINE:COL: ..." counts the two lines added above
            line = re.sub(r"^-:(\d+):", lambda m: f"line {int(m.group(1)) - 2}:", line)
            print(f"{path}: {where}: {line}")
            findings += 1
        if result.returncode not in (0, 1):
            print(f"{path}: {where}: shellcheck failed: {result.stderr.strip()}")
            findings += 1
    return findings


def main(argv: list[str]) -> int:
    findings = sum(check(Path(name)) for name in argv)
    if findings:
        print(f"shellcheck: {findings} finding(s) in the workflows' run: scripts")
        return 1
    print(f"shellcheck: run: scripts of {len(argv)} workflow file(s) clean")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
