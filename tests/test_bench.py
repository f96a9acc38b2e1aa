"""``benchmarks/bench.py --quick``: the smoke run CI can afford, and what it records."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench.py"


@pytest.mark.slow
def test_quick_bench_records_the_whole_engine_its_parts_the_peak_and_the_load(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("actcmp_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    meta = next(r for r in rows if r["kind"] == "meta")
    assert len(meta["load_average"]["before"]) == 3 and len(meta["load_average"]["after"]) == 3
    peak = next(r for r in rows if r["kind"] == "peak")
    assert len(peak["samples"]) >= 9 and peak["gflops"] > 0
    (group,) = [r for r in rows if r["kind"] == "group"]
    for key in ("canonical_s", "canonical_with_losses_s", "plain_s", "batched_s", "batched_steps_s",
                "batched_end_of_run_s", "batched_linear_probe_s"):  # fmt: skip
        assert group[key] > 0, key
    # the parts are parts of the whole engine's time
    parts = group["batched_steps_s"] + group["batched_losses_s"] + group["batched_layer_metrics_s"]
    assert parts + group["batched_end_of_run_s"] <= group["batched_s"]
    assert group["batched_linear_probe_s"] <= group["batched_end_of_run_s"]
    assert group["whole_vs_canonical"] == pytest.approx(group["canonical_s"] / group["batched_s"])
    text = capsys.readouterr().out
    assert "recording NOTHING" in text and "load average" in text
