"""Per-run samples for the pictures: what both engines store, the store's samples table
(old stores too), merging, and the report's picture figures."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from actcmp.config import make_run
from actcmp.datasets import load_dataset
from actcmp.engine.batched import train_group
from actcmp.engine.plain import RunResult, resolve, train_run
from actcmp.engine.samples import CODE_ROWS, SAMPLE_ROWS, collect_samples, compact, decode, encode
from actcmp.report import pictures
from actcmp.store.database import DB_NAME, Store, load_results

BASE = {"width": 12, "bottleneck": 3, "batch_size": 64, "probe_size": 48, "epochs": 2}


def configs(dataset: str, variants: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Any]]:
    cfgs, datas = [], []
    for variant in variants:
        cfg = make_run({"dataset": dataset, **BASE, **variant})
        data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
        cfgs.append(resolve(cfg, data.info.output_activation, data.info.loss))
        datas.append(data)
    return cfgs, datas


def test_encode_decode_round_trip_is_deterministic() -> None:
    arrays = {"a": np.arange(6, dtype=np.float16).reshape(2, 3), "b": np.array([True, False]), "s": np.array([8, 8])}
    blob = encode(arrays)
    assert blob == encode(dict(arrays))  # no timestamps: equal arrays, equal bytes
    back = decode(blob)
    assert set(back) == set(arrays) and all(np.array_equal(back[k], arrays[k]) for k in arrays)
    assert back["a"].dtype == np.float16 and back["b"].dtype == bool


def test_compact_keeps_float32_beyond_float16_range() -> None:
    assert compact(np.array([1.0, -3.5, np.nan], dtype=np.float32)).dtype == np.float16
    assert compact(np.array([1.0, 1e6], dtype=np.float32)).dtype == np.float32


def test_plain_run_stores_fixed_test_rows() -> None:
    (cfg_a, cfg_b, cfg_c), (data_a, data_b, data_c) = configs(
        "digits",
        [
            {"activation": "relu", "depth": 1},
            {"activation": "tanh", "depth": 2, "seed": 0},
            {"activation": "relu", "seed": 1},
        ],
    )
    blobs = [train_run(cfg, data).samples for cfg, data in ((cfg_a, data_a), (cfg_b, data_b), (cfg_c, data_c))]
    assert set(blobs[0]) == {"reconstruction", "codes"}  # digits has no anomalies: no errors
    recon = [decode(b["reconstruction"]) for b in blobs]
    assert recon[0]["original"].shape == (SAMPLE_ROWS, 64) and recon[0]["original"].dtype == np.float16
    assert recon[0]["image_shape"].tolist() == [8, 8]
    assert np.array_equal(recon[0]["original"], data_a.x_test[:SAMPLE_ROWS].numpy().astype(np.float16))
    # same dataset and seed: the same rows, whatever the activation or depth; another seed: other rows
    assert np.array_equal(recon[0]["original"], recon[1]["original"])
    assert not np.array_equal(recon[0]["original"], recon[2]["original"])
    assert not np.array_equal(recon[0]["reconstruction"], recon[1]["reconstruction"])
    codes = decode(blobs[0]["codes"])
    assert codes["codes"].shape == (min(CODE_ROWS, len(data_a.x_test)), 3) and codes["codes"].dtype == np.float32
    assert np.array_equal(codes["labels"], data_a.y_test[:CODE_ROWS]) and "anomaly" not in codes
    assert sum(len(b) for b in blobs[0].values()) < 8000  # kilobytes per run


def test_anomaly_sets_store_per_row_errors() -> None:
    (cfg,), (data,) = configs("breast-cancer", [{"activation": "elu", "depth": 1}])
    result = train_run(cfg, data)
    errors = decode(result.samples["errors"])
    assert errors["errors"].shape == (len(data.x_test),) and np.array_equal(errors["anomaly"], data.anomaly_test)
    from sklearn.metrics import roc_auc_score

    # the stored errors are what the run's anomaly_auroc ranks
    assert roc_auc_score(errors["anomaly"], errors["errors"]) == pytest.approx(result.final["anomaly_auroc"], abs=1e-9)
    assert decode(result.samples["reconstruction"])["image_shape"].size == 0  # not images
    assert np.array_equal(decode(result.samples["codes"])["anomaly"], data.anomaly_test[:CODE_ROWS])


def test_no_samples_for_a_diverged_run() -> None:
    (cfg,), (data,) = configs("digits", [{"activation": "relu"}])
    from actcmp.core.activations import parse_activation
    from actcmp.core.model import Autoencoder

    model = Autoencoder(64, 1, 12, 3, parse_activation("relu"), parse_activation("sigmoid", hidden=False))
    import torch

    assert collect_samples(model, data, cfg, diverged_epoch=2, dev=torch.device("cpu")) == {}
    assert set(collect_samples(model, data, cfg, diverged_epoch=None, dev=torch.device("cpu"))) == {
        "reconstruction",
        "codes",
    }


@pytest.mark.parametrize("dataset", ["digits", "breast-cancer"])
def test_batched_engine_stores_the_plain_engines_samples(dataset: str) -> None:
    cfgs, datas = configs(dataset, [{"activation": "relu"}, {"activation": "tanh", "seed": 1}, {"activation": "prelu"}])
    batched = train_group(cfgs, datas)
    for cfg, data, stacked in zip(cfgs, datas, batched, strict=True):
        plain = train_run(cfg, data)
        assert set(plain.samples) == set(stacked.samples) and plain.samples
        for kind in plain.samples:
            mine, theirs = decode(plain.samples[kind]), decode(stacked.samples[kind])
            assert set(mine) == set(theirs)
            for name in mine:
                a, b = mine[name].astype(np.float64), theirs[name].astype(np.float64)
                assert a.shape == b.shape and a.dtype == b.dtype
                # float32 training, summation orders differ; float16 rounding on top
                np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3, err_msg=f"{kind}/{name}")


# -- store -------------------------------------------------------------------------------
def fake(rid: str, samples: dict[str, bytes], status: str = "done") -> RunResult:
    cfg = {"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 1, "seed": 0}
    return RunResult(rid, cfg, status, {"test_loss": 0.1}, [(0, "val_loss", 0.2)], [], 1.0, samples=samples)


def test_store_round_trip_and_replace(tmp_path: Path) -> None:
    blob = encode({"codes": np.ones((4, 2), np.float32)})
    with Store(tmp_path) as store:
        store.write_run(fake("a", {"codes": blob}))
        store.write_run(fake("b", {}))
        assert store.samples("codes") == {"a": blob} and store.samples("errors") == {}
        assert store.read_run("a")["samples"] == {"codes": blob}
        assert store.samples_bytes() == len(blob)
        store.write_run(fake("a", {"errors": b"x"}), replace=True)
        assert store.samples("codes") == {} and store.samples("errors") == {"a": b"x"}


def test_old_store_without_samples_table(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.write_run(fake("a", {"codes": b"c"}))
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("DROP TABLE samples")  # as written before the table existed
    conn.commit()
    conn.close()
    with Store(tmp_path, create=False) as store:
        assert store.samples("codes") == {} and store.samples_bytes() == 0
        assert store.read_run("a")["samples"] == {}
    assert pictures.collect(load_results(tmp_path)) == []
    with Store(tmp_path) as store:  # opened for writing: the table is created
        store.write_run(fake("b", {"codes": b"d"}))
        assert store.samples("codes") == {"b": b"d"}


def test_merge_carries_samples_and_accepts_old_stores(tmp_path: Path) -> None:
    from actcmp.store.merge import merge_results

    with Store(tmp_path / "one") as store:
        store.write_run(fake("a", {"codes": b"c"}))
    with Store(tmp_path / "two") as store:
        store.write_run(fake("b", {}))
        store.write_run(fake("f", {}, status="failed"))
    conn = sqlite3.connect(tmp_path / "two" / DB_NAME)
    conn.execute("DROP TABLE samples")
    conn.commit()
    conn.close()
    with Store(tmp_path / "three") as store:
        store.write_run(fake("f", {"codes": b"z"}))  # finished here, failed in two
    merge_results(tmp_path / "out", [tmp_path / "two", tmp_path / "one", tmp_path / "three"])
    with Store(tmp_path / "out", create=False) as store:
        assert store.samples("codes") == {"a": b"c", "f": b"z"}
        assert {r[0] for r in store.conn.execute("SELECT run_id FROM runs")} == {"a", "b", "f"}
