"""Report pictures (reconstruction grids, latent space, ROC) from stored samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from actcmp.engine.plain import RunResult
from actcmp.engine.samples import encode
from actcmp.report import pictures, plots
from actcmp.report.style import activation_style
from actcmp.store.database import Store, load_results

ACTS = ("relu", "tanh", "sigmoid")


def run(activation: str, dataset: str, depth: int, seed: int, bottleneck: int, *, diverged: bool = False) -> RunResult:
    rng = np.random.default_rng([depth, seed, len(activation), bottleneck])
    rid = f"{activation}-{dataset}-{depth}-{seed}"
    cfg = {"run_id": rid, "activation": activation, "dataset": dataset, "depth": depth, "seed": seed, "lr": 0.01}
    samples: dict[str, bytes] = {}
    if not diverged:
        image = dataset == "images"
        d = 64 if image else 10
        original = np.random.default_rng(seed).uniform(0, 1, (16, d))  # fixed by the seed only
        labels = np.arange(256) % 10
        anomaly = np.arange(256) % 7 == 0
        samples["reconstruction"] = encode(
            {
                "original": original.astype(np.float16),
                "reconstruction": (original + rng.normal(0, 0.1, original.shape)).astype(np.float16),
                "image_shape": np.asarray([8, 8] if image else [], dtype=np.int64),
            }
        )
        codes = rng.normal(size=(256, bottleneck)).astype(np.float32) + labels[:, None]
        samples["codes"] = encode({"codes": codes, "labels": labels, **({} if image else {"anomaly": anomaly})})
        if not image:
            errors = rng.uniform(size=256) + anomaly * (1.0 if activation == "relu" else 0.3)
            samples["errors"] = encode({"errors": errors.astype(np.float32), "anomaly": anomaly})
    status = "diverged" if diverged else "done"
    return RunResult(rid, cfg, status, {"test_loss": 0.1}, [(0, "val_loss", 0.2)], [], 1.0, samples=samples)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pictures")
    with Store(directory) as store:
        for activation in ACTS:
            for depth, bottleneck in ((1, 2), (2, 5)):
                for seed in (0, 1):
                    diverged = (activation, depth, seed) == ("sigmoid", 2, 0)
                    store.write_run(run(activation, "images", depth, seed, bottleneck, diverged=diverged))
                    store.write_run(run(activation, "table", depth, seed, 1 if depth == 1 else bottleneck))
    return directory


def test_figures_per_dataset_kind(store_dir: Path) -> None:
    stems = [spec[0] for spec in pictures.figure_specs(load_results(store_dir))]
    assert stems == ["reconstructions_images", "latent_images", "latent_table", "roc_table"]


def test_cells_use_the_lowest_seed_and_mark_missing_samples(store_dir: Path) -> None:
    found = {f.dataset: f for f in pictures.collect(load_results(store_dir))}
    cells = found["images"].cells
    assert [c.values for c in cells] == [("images", 1), ("images", 2)]
    assert all(c.seed == 0 for c in cells) and list(cells[1].runs) == ["relu", "sigmoid", "tanh"]
    assert cells[1].runs["sigmoid"] is None and cells[1].status["sigmoid"] == "diverged"


def test_reconstruction_grid(store_dir: Path, tmp_path: Path) -> None:
    found = next(f for f in pictures.collect(load_results(store_dir)) if f.dataset == "images")
    fig = pictures.plot_reconstructions(found)
    axes = fig.axes
    assert len(axes) == 2  # one block per cell
    labels = [t.get_text() for t in axes[1].get_yticklabels()]
    assert labels == ["original", "relu", "sigmoid (diverged)", "tanh"]
    assert axes[1].get_yticklabels()[1].get_color() == activation_style("relu")[0]
    mosaic = axes[0].images[0].get_array()
    assert mosaic.shape == (4 * 10 - 2, 16 * 10 - 2)  # 4 rows of 16 images, 8 px + 2 px gaps
    written = plots.save(fig, tmp_path / "grid", ("png", "pdf"))
    assert all(p.stat().st_size > 1000 for p in written)


def test_latent_space_views(store_dir: Path) -> None:
    found = next(f for f in pictures.collect(load_results(store_dir)) if f.dataset == "table")
    fig = pictures.plot_latent(found)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 * len(ACTS)
    assert "code (1-D)" in panels[0].get_ylabel() and "PC 1 vs PC 2" in panels[3].get_ylabel()
    assert panels[0].get_title() == "relu" and panels[0].title.get_color() == activation_style("relu")[0]
    view, names = pictures.two_d(np.random.default_rng(0).normal(size=(50, 2)))
    assert names == ("code 1", "code 2") and view.shape == (50, 2)
    constant, _ = pictures.two_d(np.ones((20, 6)))  # all units dead: no warning, no crash
    assert constant.shape == (20, 2)


def test_roc_curves_with_auroc_in_the_legend(store_dir: Path) -> None:
    from sklearn.metrics import roc_auc_score

    results = load_results(store_dir)
    found = next(f for f in pictures.collect(results) if f.dataset == "table")
    fig = pictures.plot_roc(found)
    assert len(fig.axes) == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    errors = found.samples["errors"][found.cells[0].runs["relu"]]
    expected = roc_auc_score(errors["anomaly"], errors["errors"])
    assert legend[0] == f"relu (AUROC {expected:.3f})" and len(legend) == len(ACTS)
    relu_line = next(line for line in fig.axes[0].lines if line.get_label().startswith("relu"))
    assert relu_line.get_color() == activation_style("relu")[0]


@pytest.mark.slow
def test_report_embeds_the_pictures(store_dir: Path, tmp_path: Path) -> None:
    import shutil

    from actcmp.report import document

    copy = tmp_path / "r"
    shutil.copytree(store_dir, copy)
    specs = pictures.figure_specs(load_results(copy))
    docs = []
    results = load_results(copy)
    for stem, title, caption, draw in specs:
        written = plots.save(draw(results), copy / "figures" / stem, ("png", "pdf"))
        docs.append(document.FigureDoc(stem, title, caption, written[0].read_bytes(), ("png", "pdf")))
        assert [p.suffix for p in written] == [".png", ".pdf"]
    page = document.render_html(document.ReportContext(results, copy, {}, docs), [document.figures_section])
    assert page.count("data:image/png;base64,") == 4 and "Anomaly detection: table" in page


def test_slug_is_file_safe() -> None:
    assert pictures.slug("mnist-5k") == "mnist-5k"
    odd = pictures.slug("csv:/data/my file.csv#anomaly=flag")
    assert odd.startswith("csv-data-my-file-csv-anomaly-flag-") and "/" not in odd
