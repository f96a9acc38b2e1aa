"""Progress output is deterministic with an injected clock and console."""

from __future__ import annotations

import io

import pytest

from actcmp.progress import CostEta, Eta, NullProgress, PlainProgress, RichProgress, make_progress

RECORD = {
    "run_id": "x",
    "status": "done",
    "activation": "relu",
    "dataset": "digits",
    "depth": 2,
    "seed": 0,
    "test_loss": 0.012345678,
    "wall_time_s": 1.25,
}
SUMMARY = {
    "ran": 2,
    "done": 1,
    "diverged": 1,
    "failed": 0,
    "skipped": 3,
    "wall_time_s": 75.0,
    "interrupted": False,
    "out_dir": "results/x",
}


def test_plain_lines_with_fake_clock() -> None:
    lines: list[str] = []
    ticks = iter([0.0, 10.0, 20.0])
    progress = PlainProgress(write=lines.append, clock=lambda: next(ticks))
    progress.start(total=5, to_run=2, skipped=3, out_dir="results/x")
    progress.run_done(RECORD)
    progress.run_done({**RECORD, "status": "diverged", "test_loss": None, "activation": "tanh"})
    progress.finish(SUMMARY)
    assert lines == [
        "sweep: 5 runs planned, 3 already stored, 2 to run -> results/x",
        "[1/2] done     relu · digits · depth 2 · seed 0  test_loss=0.012346  1.2s",  # no estimate yet
        "[2/2] diverged tanh · digits · depth 2 · seed 0  test_loss=-  1.2s  eta 0s",
        "2 runs in 1m15s wall time, sum of run times 2.5s: 1 done, 1 diverged, 0 failed; 3 skipped (already stored)",
    ]


def test_interrupted_summary_says_how_to_resume() -> None:
    lines: list[str] = []
    summary = {**SUMMARY, "interrupted": True, "planned": 10}
    PlainProgress(write=lines.append, clock=lambda: 0.0).finish(summary)
    assert lines[-1].splitlines()[-1] == (
        "interrupted: 2 runs stored now, 5 left in results/x; run the same command again to resume"
    )
    # after --fresh, the runs not redone yet still hold their earlier results: only the same
    # command finishes (a run without --fresh would skip them as stored)
    PlainProgress(write=lines.append, clock=lambda: 0.0).finish({**summary, "fresh": True})
    assert "run the same command again to finish (it redoes every run; without --fresh" in lines[-1]
    # a [tune] sweep stopped in its tuning phase: the count is of tuning runs, the rest follows the selection
    PlainProgress(write=lines.append, clock=lambda: 0.0).finish({**summary, "stopped_tuning": True})
    assert lines[-1].splitlines()[-1] == (
        "interrupted: 2 runs stored now, 5 tuning runs left, then the selection and the evaluation runs, in "
        "results/x; run the same command again to resume"
    )


def burst_lines(bursts: list[tuple[float, int]], to_run: int) -> list[str]:
    """Plain lines for results arriving in bursts: (time, runs) each, all at that instant."""
    times = [0.0] + [t for t, count in bursts for _ in range(count)]
    ticks = iter(times)
    lines: list[str] = []
    progress = PlainProgress(write=lines.append, clock=lambda: next(ticks))
    progress.start(total=to_run, to_run=to_run, skipped=0, out_dir="r")
    for _ in times[1:]:
        progress.run_done(RECORD)
    return lines[1:]


def test_eta_ignores_a_burst_still_arriving() -> None:
    # the batched engine: groups of 24 runs, each group 95 s, all its results at once.
    # Per result (95 s / 1 run x 71 left) the first line said "eta 1h52m"; the first group
    # gives no estimate, the second says 95 s (one more group), the last 0 s.
    lines = burst_lines([(95.0, 24), (190.0, 24), (285.0, 24)], to_run=72)
    assert len(lines) == 72
    assert not any("eta" in line for line in lines[:24])
    assert all(line.endswith("eta 1m35s") for line in lines[24:48])
    assert all(line.endswith("eta 0s") for line in lines[48:])


def test_eta_from_a_steady_stream() -> None:
    # one run every 2 s, 100 runs: at run k, 2 x (100 - k) s are left
    lines = burst_lines([(2.0 * k, 1) for k in range(1, 101)], to_run=100)
    assert "eta" not in lines[0]
    assert lines[1].endswith("eta 3m16s")  # 2 s x 98 left
    assert lines[49].endswith("eta 1m40s")
    assert lines[-1].endswith("eta 0s")


@pytest.mark.parametrize(
    ("arrivals", "now", "expected"),
    [
        pytest.param([], 50.0, None, id="nothing-yet"),
        pytest.param([10.0], 10.5, None, id="only-a-burst-still-arriving"),
        pytest.param([10.0], 12.0, 28.0, id="one-settled-result"),  # 10 s/run, 4 runs: finish at 40
        pytest.param([10.0, 10.2, 10.4, 10.6], 60.0, 0.0, id="all-done"),
        pytest.param([100.0, 100.1], 300.0, 0.0, id="overdue-shows-zero"),
    ],
)
def test_eta_remaining(arrivals: list[float], now: float, expected: float | None) -> None:
    eta = Eta(clock=lambda: 0.0)
    eta.start(4 if len(arrivals) < 4 else len(arrivals), now=0.0)
    for t in arrivals:
        eta.add(t)
    remaining = eta.remaining(now)
    assert remaining == (pytest.approx(expected) if expected is not None else None)


def test_rich_progress_renders_to_injected_console() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=100)
    progress = RichProgress(console)
    progress.start(total=2, to_run=2, skipped=0, out_dir="results/x")
    progress.run_done(RECORD)
    progress.finish(SUMMARY)
    text = buffer.getvalue()
    assert "2 runs planned" in text and "1 diverged" in text


def test_rich_eta_column_uses_the_wall_clock_estimate() -> None:
    from rich.console import Console

    now = [0.0]
    progress = RichProgress(Console(file=io.StringIO(), force_terminal=False, width=100), clock=lambda: now[0])
    progress.start(total=48, to_run=48, skipped=0, out_dir="results/x")
    column = progress.progress.columns[-1]
    task = progress.progress.tasks[0]
    assert str(column.render(task)) == ""  # nothing finished: no estimate
    now[0] = 95.0
    for _ in range(24):
        progress.run_done({**RECORD, "status": "diverged"})
    assert str(column.render(task)) == ""  # the burst is still arriving
    now[0] = 100.0
    assert str(column.render(task)) == "eta 1m30s"  # 95 s per 24 runs: done at 190 s
    assert "[diverged]" in progress.progress.tasks[0].description.replace("\\", "")
    progress.finish(SUMMARY)


def test_make_progress_plain_under_ci(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert isinstance(make_progress(), PlainProgress)
    assert isinstance(make_progress(quiet=True), NullProgress)


# ----------------------------------------------------------------------------- the cost-model ETA


def planned_lines(
    tasks: list[tuple[list[str], float]], workers: int, finishes: list[tuple[float, str, float]]
) -> list[str]:
    """Plain lines for a planned sweep (prior: 1 s per unit); ``finishes``: (time, run id,
    its wall_time_s) per result, the clock reading each in turn."""
    ticks = iter([0.0, 0.0] + [t for t, _, _ in finishes])
    lines: list[str] = []
    progress = PlainProgress(write=lines.append, clock=lambda: next(ticks))
    runs = sum(len(rids) for rids, _ in tasks)
    progress.start(total=runs, to_run=runs, skipped=0, out_dir="r")
    progress.plan(tasks, workers, prior_rate=1.0)
    for _, rid, seconds in finishes:
        progress.run_done({**RECORD, "run_id": rid, "wall_time_s": seconds})
    return lines[1:]


def test_cost_eta_from_the_start_then_calibrated_by_the_first_group() -> None:
    # three groups of 2 runs, 100 + 100 + 200 units; prior 1 s/unit says 400 s. The first
    # group takes 50 s (its runs' times add up): 0.5 s/unit, so 300 units are 150 s
    tasks = [(["a1", "a2"], 100.0), (["b1", "b2"], 100.0), (["c1", "c2"], 200.0)]
    finishes = [(50.0, "a1", 25.0), (50.0, "a2", 25.0), (120.0, "b1", 35.0), (120.0, "b2", 35.0), (200.0, "c1", 40.0)]
    lines = planned_lines(tasks, 1, finishes)
    assert lines[0] == "3 tasks on 1 worker: first estimate 6m40s (cost model)"
    assert lines[1].endswith("eta 5m50s")  # 400 s - 50 s: the group is not complete, not yet calibrated
    assert lines[2].endswith("eta 2m30s")  # calibrated: 300 units x 0.5 s
    # at 120 s the second group is in: (50 + 70) s / 200 units = 0.6 s/unit, 200 units left
    assert lines[4].endswith("eta 2m00s")
    assert lines[5].endswith("eta 40s")  # counting down between groups: 120 s left at 120, 80 s later


def test_cost_eta_shares_the_work_between_workers() -> None:
    tasks = [([f"r{i}"], 10.0) for i in range(4)]
    lines = planned_lines(tasks, 2, [(10.0, "r0", 10.0)])
    assert lines[0].endswith("first estimate 20s (cost model)")  # 40 units x 1 s / 2 workers
    assert lines[1].endswith("eta 15s")  # 1 s/unit, 30 units left over 2 workers


def test_cost_eta_counts_down_between_results_and_ignores_unknown_runs() -> None:
    now = [0.0]
    eta = CostEta(clock=lambda: now[0])
    eta.start(4)  # the three planned runs and the one from elsewhere
    eta.plan([(["x", "y"], 10.0), (["z"], 30.0)], workers=1, prior_rate=2.0)
    assert eta.remaining() == pytest.approx(80.0)
    now[0] = 15.0
    assert eta.remaining() == pytest.approx(65.0)
    eta.add({"run_id": "elsewhere", "wall_time_s": 5.0})  # not planned here: changes nothing
    assert eta.remaining() == pytest.approx(65.0)
    now[0] = 75.0  # the first task (10 units x 2 s) is 55 s late: 75 / 20 = 3.75 times the rate
    assert eta.remaining() == pytest.approx(80.0 * 3.75 - 75.0 + 55.0)
    eta.add({"run_id": "x", "wall_time_s": 40.0})
    eta.add({"run_id": "y", "wall_time_s": 40.0})  # the task took 80 s: 8 s/unit, 30 units left
    assert eta.remaining() == pytest.approx(240.0)
    eta.add({"run_id": "z", "wall_time_s": 1.0})
    assert eta.remaining() == 0.0  # everything in


def test_cost_eta_never_counts_down_to_zero_while_nothing_finishes() -> None:
    """A prior far too optimistic (a loaded machine): the ETA grows while the first tasks
    run late, instead of showing "eta 0s" until one finishes."""
    now = [0.0]
    eta = CostEta(clock=lambda: now[0])
    eta.start(8)
    eta.plan([([f"r{i}"], 10.0) for i in range(8)], workers=2, prior_rate=1.0)  # 40 s on 2 workers
    shown = []
    for t in (5.0, 9.0, 10.0, 20.0, 40.0, 60.0):
        now[0] = t
        shown.append(eta.remaining())
    assert shown[:3] == pytest.approx([35.0, 31.0, 30.0])  # on time: counting down
    # 2x, 4x, 6x late: 40 s x k - t, plus the running task's lateness (10, 30, 50 s)
    assert shown[3:] == pytest.approx([70.0, 150.0, 230.0])
    assert all(value > 0 for value in shown)


@pytest.mark.parametrize(
    ("tasks", "workers"),
    [([(["a"], 10.0)], 1), ([(["a"], 10.0), (["b"], 10.0)], 4), ([(["z"], 0.0), (["a"], 10.0)], 2)],
    ids=["one-task", "more-workers-than-tasks", "a-task-without-cost"],
)
def test_cost_eta_of_the_last_tasks_running_late_grows(tasks: list[tuple[list[str], float]], workers: int) -> None:
    """Every open task already running (the last batch): the estimate reaches the running
    task's expected end, then grows with its lateness; a task of 0 units does not stop it."""
    now = [0.0]
    eta = CostEta(clock=lambda: now[0])
    eta.start(len(tasks))
    eta.plan(tasks, workers=workers, prior_rate=1.0)
    shown = []
    for t in (0.0, 5.0, 10.0, 15.0, 20.0, 40.0):
        now[0] = t
        shown.append(eta.remaining())
    assert shown[:3] == pytest.approx([10.0, 5.0, 0.0])
    assert shown[3:] == pytest.approx([5.0, 10.0, 30.0])


def test_rich_progress_takes_the_plan() -> None:
    from rich.console import Console

    now = [0.0]
    progress = RichProgress(Console(file=io.StringIO(), force_terminal=False, width=100), clock=lambda: now[0])
    progress.start(total=2, to_run=2, skipped=0, out_dir="results/x")
    progress.plan([(["x", "y"], 90.0)], workers=1, prior_rate=1.0)
    column = progress.progress.columns[-1]
    assert str(column.render(progress.progress.tasks[0])) == "eta 1m30s"
    progress.finish(SUMMARY)


def test_the_sweep_plans_every_task_it_runs(tmp_path) -> None:
    from actcmp.config import SweepConfig
    from actcmp.run.sweep import run_sweep

    class Recorder(NullProgress):
        def __init__(self) -> None:
            self.tasks: list[tuple[list[str], float]] = []
            self.ran: list[str] = []

        def plan(self, tasks: list[tuple[list[str], float]], workers: int, prior_rate: float) -> None:
            self.tasks = tasks

        def run_done(self, record: dict) -> None:
            self.ran.append(record["run_id"])

    sweep = SweepConfig(
        name="t",
        fixed={"dataset": "breast-cancer", "epochs": 1, "width": 8, "bottleneck": 2, "probe_size": 32},
        grid={"activation": ["relu", "tanh"], "depth": [1, 2]},
    )
    recorder = Recorder()
    run_sweep(sweep, tmp_path / "out", progress=recorder)
    planned = sorted(rid for rids, _ in recorder.tasks for rid in rids)
    assert planned == sorted(recorder.ran) and len(planned) == 4
    assert len(recorder.tasks) == 2  # one batched group per depth
    assert all(units > 0 for _, units in recorder.tasks)


def test_varied_fields_are_what_tells_runs_of_one_activation_dataset_depth_and_seed_apart() -> None:
    from actcmp.progress import describe, varied_fields

    base = {"activation": "relu", "dataset": "digits", "depth": 1, "seed": 0, "lr": 0.001, "run_id": "a"}
    lr_grid = [base, {**base, "lr": 0.01, "run_id": "b"}]
    assert varied_fields(lr_grid, skip=("run_id",)) == ["lr"]
    # init follows the activation, output_activation the dataset: never needed to tell runs apart
    default = [
        {**base, "init": "kaiming", "output_activation": "sigmoid"},
        {**base, "activation": "tanh", "init": "xavier", "output_activation": "sigmoid", "run_id": "b"},
        {**base, "dataset": "manifold", "init": "kaiming", "output_activation": "identity", "run_id": "c"},
    ]
    assert varied_fields(default, skip=("run_id",)) == []
    assert describe({**base, "varied": {"lr": 0.01}}) == "relu · digits · depth 1 · seed 0 · lr=0.01"


def test_a_tuned_sweeps_lines_name_the_lr_and_the_selection_is_shown_between_phases(tmp_path) -> None:
    from actcmp.config import sweep_from_dict
    from actcmp.run.sweep import run_sweep

    sweep = sweep_from_dict(
        {
            "name": "t",
            "dataset": "breast-cancer",
            "epochs": 1,
            "width": 8,
            "bottleneck": 2,
            "probe_size": 32,
            "grid": {"activation": ["relu", "tanh"], "seed": [0]},
            "tune": {"lr": [0.001, 0.01], "seeds": [100]},
        }
    )
    lines: list[str] = []
    run_sweep(sweep, tmp_path / "out", progress=PlainProgress(write=lines.append))
    runs = [line for line in lines if line.startswith("[")]
    assert len(runs) == len({line.split("]", 1)[1].split("test_loss")[0] for line in runs})  # each line its own run
    assert all(" · lr=" in line for line in runs), runs
    selected = next(i for i, line in enumerate(lines) if "selected lr=" in line)
    second_start = [i for i, line in enumerate(lines) if line.startswith("sweep:")][1]
    assert selected < second_start  # between the tuning phase and the evaluation phase
    assert sum("selected lr=" in line for line in lines) == 2
