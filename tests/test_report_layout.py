"""The modules split by job in the restructuring: every name the old modules offered (but
behaviour-setting constants, see below) still imports from them, and no module grows past 700 lines."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import actcmp

OLD_NAMES = {
    "actcmp.analysis.stats": (
        "ALPHA CI_METHOD CONFIDENCE CORRECTION DEPTH_FACTOR FINISHED FriedmanResult N_RESAMPLES POWER PairedTest "
        "RANDOM_STATE bootstrap_ci cell_keys cell_scores config_fields depth_profile depth_scaling equivalence_test "
        "friedman friedman_from_scores holm min_detectable_effect nemenyi_cd outcomes paired_test paired_vs_best "
        "summarise t_interval trend_test"
    ),
    "actcmp.report.tables": (
        "ALPHA BestRule CI_LABEL FINISHED LATEX_LONG LATEX_WIDE REQUIRED STAT_COLUMNS TIED_NOTE Table bold_tied "
        "NOT_CELL extra_fields build_tables cell_keys complete config_fields converged depth_caption depth_table detectable_note "
        "display_depth display_main display_plain epoch_curves fmt_fraction fmt_interval fmt_mean_std fmt_number "
        "fmt_p fmt_vs_best heatmap_matrix init_table label latex_escape layer_curves layer_profile loss_statistics "
        "lowest main_notes main_table mark_best markdown_escape panel_keys rank_table sort_rows status_table to_html "
        "to_latex to_markdown write_table"
    ),
    "actcmp.report.plots": (
        "LEGEND_W LOSS_BARS LOSS_NAMES MAX_EPOCH_TICKS MIN_TICKS NEAR_ZERO NEAR_ZERO_SHARE NO_LEGEND OVERLAP_DASHES "
        "OVERLAP_SHARE OVERLAP_TOLERANCE PANEL_H PANEL_W RC SAVE_DPI bars_label epoch_ticks fraction_scale legend "
        "log_ticks loss_name new_figure no_data overlapping plot_activation_functions plot_cd_diagram "
        "plot_dead_fraction plot_depth_scaling plot_grad_norms plot_heatmap plot_loss_curves plot_loss_vs_depth "
        "png_bytes readable_ticks save standard_figures wrap zoom_window"
    ),
    "actcmp.report.style": "ACTIVATION_STYLES activation_order activation_style base_name line_kwargs",
    # the other splits of the restructuring (names a user's script may import from the old place;
    # constants that configure behaviour are left where they are read, so that a stale
    # monkeypatch of the old place fails instead of silently doing nothing)
    "actcmp.claims.figures": "choose_runs plot_layer_histograms plot_died_revived preact_histograms HIST_METRIC HIST_RANGE",
    "actcmp.claims.registry": "CLAIMS CONDITIONS comparison_table rank_table fmt",
    "actcmp.claims.document": "duration fmt_p fmt_stat",
    "actcmp.cli": (
        "app main EXIT_USAGE EXIT_FAILURE EXIT_INTERRUPTED OneLineErrors guarded fail out_path F DEVICE_PATTERN "
        "MAX_THREADS PLAN_KEYS resolve_config_path bundled_sweeps"
    ),
    "actcmp.engine.batched": (
        "train_group stack_refusal estimate_group_bytes max_models_for_memory loss_grad masks_of_counts Row "
        "per_sample_losses"
    ),
    "actcmp.run.sweep": "run_sweep plan_runs describe_plan execute_task Task cached_dataset make_tasks resolve_runs",
}


@pytest.mark.parametrize("module", sorted(OLD_NAMES))
def test_old_names_still_import_from_their_old_module(module: str) -> None:
    loaded = importlib.import_module(module)
    missing = [name for name in OLD_NAMES[module].split() if not hasattr(loaded, name)]
    assert missing == []


def test_no_report_or_analysis_module_over_700_lines() -> None:
    root = Path(actcmp.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text(encoding="utf-8").splitlines())
        for folder in ("report", "analysis")
        for path in sorted((root / folder).glob("*.py"))
    }
    assert sizes and {name: n for name, n in sizes.items() if n > 700} == {}
