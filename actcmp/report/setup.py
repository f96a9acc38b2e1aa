"""The report's Setup: what was run, with what, where and when (also ``setup.json``).

:func:`collect_setup` reads the stored runs, their environments and ``DIR/sweep.json``
and returns a JSON-able dict; :func:`setup_blocks` words it for the report. Everything
comes from what the runs stored, so a report regenerated later states the same setup:

* ``fixed``: run fields with one value in every stored run (epochs, lr, optimizer, ...);
  ``per_dataset`` / ``per_activation``: fields that vary only with the dataset (output
  activation and loss under ``auto``) or only with the activation (the init rule under
  ``auto``); ``grid``: every other varied field (the axes) with its values; ``seeds``;
* ``init``: per activation the rule and the gain it used (:mod:`actcmp.core.model`);
* ``environment``: actcmp, torch, python (and numpy, ``cpu_capability`` when the runs
  recorded them: "not recorded" otherwise), device, platform, engine;
* ``provenance``: the sweep file and the git commit of its repository, recorded at run
  time in ``sweep.json``; for older results the commit of the results directory's
  repository read at report time (and said so), or "not recorded"; for a literature setup
  also the ``reference`` it reproduces and its ``deviations`` (from the sweep file);
* ``sweep.versions`` / ``sweep.sweep_file_version`` (only where the directory holds several
  versions of a tuned sweep): how many, from the store, and which one sweep.json is: the store
  records each version's settings, but the sweep file and git commit of the last run only;
* ``dates``: the first and last time a run finished.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.store.database import SWEEP_FILE

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store.database import Results

NOT_RECORDED = "not recorded"
#: environment entries the Setup states, in order (missing ones say "not recorded")
ENV_KEYS = ("actcmp", "torch", "numpy", "python", "device", "cpu_capability", "engine", "platform")
#: never a fixed field or an axis: replicates, identities, and what follows from the data file
NOT_FIELDS = ("seed", "run_id", "data_fingerprint")


def _plain(value: Any) -> Any:
    """``value`` as plain JSON (numpy scalars to Python, NaN to None)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _sorted_values(values: Any) -> list[Any]:
    unique = {json.dumps(_plain(v), sort_keys=True): _plain(v) for v in values if not _is_missing(v)}
    return sorted(unique.values(), key=lambda v: (str(type(v)), v))


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _depends_only_on(runs: pd.DataFrame, field: str, key: str) -> dict[str, Any] | None:
    """``{key value: field value}`` when ``field`` takes one value per value of ``key``, in the
    report's order of ``key``: activations in legend order, other values sorted (as the tables
    list them), not in the order the runs were stored."""
    if key not in runs:
        return None
    from actcmp.analysis.cells import activation_order, as_text

    if (as_text(runs[[key, field]]).groupby(key)[field].nunique() > 1).any():
        return None
    first = runs.drop_duplicates(key)
    found = {str(k): _plain(v) for k, v in zip(first[key], first[field], strict=True)}
    order = activation_order(found) if key == "activation" else sorted(found)
    return {k: found[k] for k in order}


def run_fields(runs: pd.DataFrame, stored: pd.DataFrame | None = None) -> dict[str, Any]:
    """``fixed``, ``per_dataset``, ``per_activation``, ``grid`` and ``seeds`` of ``runs`` (the
    stored runs, or with the planned ones not stored yet: :func:`described_runs`); ``seeds_per_cell``
    of the ``stored`` runs (default: ``runs``)."""
    import pandas as pd

    from actcmp.analysis.cells import activation_order, config_fields
    from actcmp.plan import WITHOUT_EFFECT

    fixed: dict[str, Any] = {}
    per_dataset: dict[str, dict[str, Any]] = {}
    per_activation: dict[str, dict[str, Any]] = {}
    grid: dict[str, list[Any]] = {}
    for field in config_fields(runs):
        if field in NOT_FIELDS:
            continue
        controller = WITHOUT_EFFECT.get(field)
        if controller in runs:  # e.g. activity_l1_on: read only where a penalty applies (elsewhere the default)
            applies = pd.to_numeric(runs[controller], errors="coerce").fillna(0) != 0
            if applies.any() and runs.loc[applies, field].nunique(dropna=False) == 1:
                fixed[field] = runs.loc[applies, field].iloc[0]
                continue
        values = _sorted_values(runs[field])
        if values and bool(runs[field].isna().any()):  # unset in some runs, set in others: None is a value
            values = [None, *values]
        if len(values) <= 1:
            fixed[field] = values[0] if values else None
            continue
        if field not in ("activation", "dataset"):
            by_activation = _depends_only_on(runs, field, "activation")
            if by_activation is not None:
                per_activation[field] = by_activation
                continue
            by_dataset = _depends_only_on(runs, field, "dataset")
            if by_dataset is not None:
                per_dataset[field] = by_dataset
                continue
        grid[field] = activation_order(values) if field == "activation" else values
    seeds = _sorted_values(runs["seed"]) if "seed" in runs else []
    return {
        "fixed": fixed,
        "per_dataset": per_dataset,
        "per_activation": per_activation,
        "grid": grid,
        "seeds": seeds,
        "seeds_per_cell": _seeds_per_cell(runs if stored is None else stored, [f for f in grid if f != "seed"]),
    }


def _seeds_per_cell(runs: pd.DataFrame, cell: list[str]) -> list[int]:
    """``[fewest, most]`` distinct seeds among the stored runs of one cell (the runs equal in
    every grid field but the seed; a shard, an interrupted sweep or several sweeps in one
    directory leave cells with fewer seeds than the directory holds); ``[]`` without seeds."""
    if "seed" not in runs or not len(runs):
        return []
    from actcmp.analysis.cells import as_text

    if not cell:
        return [int(runs["seed"].nunique())] * 2
    counts = as_text(runs[[*cell, "seed"]]).groupby(cell, dropna=False)["seed"].nunique()
    return [int(counts.min()), int(counts.max())]


def init_gains(runs: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per activation: the init ``rule`` its runs used and the ``gain`` of its hidden
    layers under that rule (He: sqrt(2 / (1 + slope^2)); Xavier: 5/3 for tanh, else 1;
    LeCun: 1; PyTorch default: uniform, std 1/sqrt(3 fan_in), gain None), with the
    ``std`` formula. The output layer always uses gain 1."""
    from actcmp.analysis.cells import activation_order
    from actcmp.core.activations import kaiming_gain, parse_activation, xavier_gain
    from actcmp.errors import ActcmpError

    if "activation" not in runs or "init" not in runs:
        return {}
    formulas = {
        "kaiming": "gain / sqrt(fan_in)",
        "xavier": "gain * sqrt(2 / (fan_in + fan_out))",
        "lecun": "1 / sqrt(fan_in)",
        "torch-default": "1 / sqrt(3 fan_in), uniform",
    }
    out: dict[str, dict[str, Any]] = {}
    for name in activation_order(runs["activation"]):
        rules = _sorted_values(runs.loc[runs["activation"] == name, "init"])
        rule = ", ".join(str(r) for r in rules)
        gain: float | None = None
        if len(rules) == 1 and rules[0] in ("kaiming", "xavier", "lecun"):
            try:
                spec = parse_activation(name)
            except ActcmpError:  # a user activation that does not import here
                spec = None
            if rules[0] == "lecun":
                gain = 1.0
            elif spec is not None:
                gain = kaiming_gain(spec) if rules[0] == "kaiming" else xavier_gain(spec)
        out[name] = {"rule": rule, "gain": gain, "std": formulas.get(rule, "as named")}
    return out


def environment(results: Results) -> dict[str, Any]:
    """Per :data:`ENV_KEYS` entry: the distinct values the runs recorded (one string, or
    a list when runs differ), or :data:`NOT_RECORDED`."""
    envs = results.environments
    out: dict[str, Any] = {}
    for key in ENV_KEYS:
        if envs is None or key not in envs or envs[key].isna().all():
            out[key] = NOT_RECORDED
            continue
        values = [str(v) for v in _sorted_values(envs[key])]
        if envs[key].isna().any():
            values.append(NOT_RECORDED)
        out[key] = values[0] if len(values) == 1 else values
    return out


def _stored_sweeps(results: Results) -> list[dict[str, Any]]:
    """The sweeps the directory's store records (:meth:`~actcmp.store.database.Store.sweeps`:
    id, name, settings; first stored first); [] where it cannot be read."""
    from actcmp.errors import ActcmpError
    from actcmp.store.database import Store, db_path

    directory = Path(results.directory)
    if not db_path(directory).is_file():
        return []
    try:
        with Store(directory, create=False) as store:
            return store.sweeps()
    except (ActcmpError, OSError, sqlite3.Error):  # the tables come from the same store: only a label
        return []


def sweep_names(results: Results, stored: list[dict[str, Any]] | None = None) -> list[str]:
    """The names of the sweeps the directory's store records (``stored``, when already read:
    :func:`_stored_sweeps`), first stored first (a grid extension under the same name is one)."""
    stored = _stored_sweeps(results) if stored is None else stored
    return list(dict.fromkeys(str(entry["name"]) for entry in stored))


def sweep_versions(stored: list[dict[str, Any]], tunes: Sequence[Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """Where the directory holds several versions of a tuned sweep (one name run with other
    candidates, grid or settings; numbered by :func:`actcmp.analysis.tune.stored_tunes`):
    ``versions``, how many of each such name, and ``sweep_file_version``, which of them the sweep
    file (``recorded``: sweep.json's sweep, that of the last run into the directory) is (None:
    none of them). The store records each version's settings, never its sweep file or git
    commit: sweep.json holds those of the last run only. {} where no name has several."""
    from actcmp.analysis.tune import runs_content

    versions = {tune.name: tune.version[1] for tune in tunes if tune.version is not None}
    if not versions:
        return {}
    # the stored sweeps the sweep file describes (the same runs: a new description is no version)
    described = {
        str(entry["sweep_id"])
        for entry in stored
        if recorded
        and entry["name"] == recorded.get("name")
        and runs_content(entry["config"]) == runs_content(recorded)
    }
    found = [t.version[0] for t in tunes if t.version is not None and t.sweep_id in described]
    return {"versions": versions, "sweep_file_version": found[0] if found else None}


def read_sweep_file(directory: Path) -> dict[str, Any]:
    """``DIR/sweep.json`` as written by the last ``actcmp run`` ({} when absent or unreadable)."""
    try:
        data = json.loads((directory / SWEEP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def sweep_file_problem(directory: Path) -> str | None:
    """What is wrong with ``DIR/sweep.json`` when it is there but cannot be read (None when
    it reads, or is absent, as in a directory made by ``merge``): the Setup then states only
    what the store records (sweep names, no sweep file or git commit)."""
    path = directory / SWEEP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror}); the Setup states only what the store records"
    except ValueError:
        return f"{path}: is not readable JSON; the Setup states only what the store records"
    if not isinstance(data, dict):
        return f"{path}: is not a sweep file (a JSON object); the Setup states only what the store records"
    return None


def provenance(directory: Path, sweep_file: dict[str, Any]) -> dict[str, Any]:
    """The sweep's origin as recorded at run time, else the results directory's git
    commit read now (``"when": "report time"``), else :data:`NOT_RECORDED`."""
    from actcmp.provenance import git_commit

    recorded = sweep_file.get("provenance")
    if isinstance(recorded, dict):
        return {**recorded, "when": "run time"}
    commit, dirty = git_commit(directory)
    if commit:
        return {
            "source": NOT_RECORDED,
            "sweep_file": None,
            "git_commit": commit,
            "git_dirty": dirty,
            "when": "report time",
            "of": "the results directory's repository",
        }
    return {"source": NOT_RECORDED, "sweep_file": None, "git_commit": None, "git_dirty": None, "when": NOT_RECORDED}


def date_range(runs: pd.DataFrame) -> dict[str, Any]:
    """The first and last ``finished_at`` of the stored runs (ISO 8601, as stored)."""
    import pandas as pd

    if "finished_at" not in runs or runs["finished_at"].isna().all():
        return {"first": None, "last": None}
    stamps = pd.to_datetime(runs["finished_at"], utc=True, errors="coerce", format="ISO8601")
    first, last = stamps.idxmin(), stamps.idxmax()
    return {"first": str(runs.at[first, "finished_at"]), "last": str(runs.at[last, "finished_at"])}


def report_software() -> dict[str, str]:
    """Versions of what made the report (statistics and tables): actcmp, numpy, scipy, pandas."""
    import numpy
    import pandas
    import scipy

    import actcmp

    return {
        "actcmp": actcmp.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "pandas": pandas.__version__,
    }


def tune_protocol(tunes: Sequence[Any]) -> list[dict[str, Any]]:
    """Per tuned sweep (:class:`actcmp.analysis.tune.StoredTune`): the candidates, tuning and
    evaluation seeds, the selection rule and the common value shown beside."""
    return [
        {
            "sweep": tune.title,
            "candidates": {k: [_plain(v) for v in values] for k, values in tune.spec.candidates.items()},
            "tuning_seeds": list(tune.spec.seeds),
            "evaluation_seeds": [_plain(v) for v in tune.evaluation_seeds],
            "select_by": tune.spec.select_by,
            "tuning_record": tune.spec.record,
            "common": {k: _plain(v) for k, v in tune.common_values.items()},
            "per_seed_split": tune.per_seed_split,
        }
        for tune in tunes
    ]


def collect_setup(results: Results, tunes: Sequence[Any] = ()) -> dict[str, Any]:
    """Everything the Setup section states, as a JSON-able dict (``setup.json``).
    ``tunes``: the ``[tune]`` sweeps of the directory (``results`` then holds the runs at
    the common value only, :func:`actcmp.report.tune.evaluation_only`): their protocol under
    ``"tune"``, the tuned fields under ``"tuned"`` instead of the axes (``common``: the value
    of the runs in the other tables; ``selected``: the values some cell and activation
    selected), and under ``runs`` the tuning runs (``tuning``) and the evaluation runs at a
    selected value (``at_selected``), which the other tables leave out."""
    runs = results.runs
    sweep_file = read_sweep_file(Path(results.directory))
    recorded = sweep_file.get("sweep")
    sweep: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    statuses = runs["status"].value_counts().to_dict() if "status" in runs else {}
    from actcmp.report.incomplete import described_runs, not_stored_values, plan_counts

    stored = _stored_sweeps(results)
    described = described_runs(results)  # the plan's runs where some are not stored yet
    fields = _with_tuned(run_fields(described, runs), tunes)
    counts = plan_counts(results)
    # where planned runs are missing (only then: a complete sweep's setup.json as before): how many, and
    # per grid axis (and seed) the planned values no stored run has yet
    pending = counts if counts["pending"] else {}
    gaps = {"not_stored": not_stored_values(results, list(fields["grid"]))} if pending else {}
    return {
        "sweep": {
            "name": sweep.get("name"),
            "description": sweep.get("description"),
            "all": sweep_names(results, stored),
            **sweep_versions(stored, tunes, sweep),
        },
        "runs": {
            "stored": len(runs),
            **{s: int(statuses.get(s, 0)) for s in ("done", "diverged", "failed")},
            **pending,
            **_tuned_counts(tunes),
        },
        **fields,
        **gaps,
        "tune": tune_protocol(tunes),
        "init": init_gains(described),
        "environment": environment(results),
        "report_software": report_software(),
        "provenance": provenance(Path(results.directory), sweep_file),
        "dates": date_range(runs),
    }


def _with_tuned(fields: dict[str, Any], tunes: Sequence[Any]) -> dict[str, Any]:
    """Tuned fields moved out of ``grid`` / ``per_activation`` / ``per_dataset`` / ``fixed``
    into ``tuned``: per field its ``common`` value (the runs of the other tables) and the
    values ``selected`` (read from the selections, never from the runs: the common value is
    listed only where some unit selected it), and ``no_selection``: the units whose every
    candidate diverged."""
    tuned: dict[str, Any] = {}
    for tune in tunes:
        selected = tune.selected_values()
        for name in tune.spec.fields:
            entry = tuned.setdefault(name, {"common": [], "selected": [], "no_selection": 0})
            entry["common"] = _sorted_values([*entry["common"], tune.common_values.get(name)])
            entry["selected"] = _sorted_values([*entry["selected"], *selected.get(name, [])])
            entry["no_selection"] += sum(1 for s in tune.selections if s.all_diverged)
    for entry in tuned.values():  # one sweep (the usual case): one common value
        entry["common"] = entry["common"][0] if len(entry["common"]) == 1 else entry["common"]
    for group in ("grid", "per_activation", "per_dataset", "fixed"):
        for name in [n for n in fields[group] if n in tuned]:
            fields[group].pop(name)
    return {**fields, "tuned": tuned}


def _tuned_counts(tunes: Sequence[Any]) -> dict[str, Any]:
    """``tuning`` and ``at_selected``: stored / done / diverged / failed runs (none without [tune])."""
    if not tunes:
        return {}
    out: dict[str, Any] = {}
    for key, ids in (
        ("tuning", set().union(*(t.tuning_ids for t in tunes))),
        ("at_selected", set().union(*(t.selected_ids for t in tunes)) - set().union(*(t.common_ids for t in tunes))),
    ):
        counts: list[dict[str, int]] = []
        seen: set[str] = set()
        for tune in tunes:  # a run two sweeps planned (two versions of one tuned sweep) counts once
            mine = (ids & set(tune.planned)) - seen
            seen |= mine
            counts.append(tune.stored_counts(mine))
        out[key] = {k: sum(c[k] for c in counts) for k in ("stored", "done", "diverged", "failed")}
    return out


def write_setup_json(path: Path, setup: dict[str, Any]) -> Path:
    """``setup.json`` (atomic: a temp file renamed over the old one)."""
    from actcmp.atomic import write_text

    return write_text(path, json.dumps(setup, indent=1, sort_keys=True, default=str) + "\n")


# -- words ----------------------------------------------------------------------------------
def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _field_help(field: str) -> str:
    from actcmp.config import RunConfig

    info = RunConfig.model_fields.get(field)
    return (info.description or "") if info is not None else ""


def setup_rows(setup: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, value, meaning) rows: fixed fields, then per-dataset and per-activation ones."""
    fixed = setup["fixed"]
    rows = [(field, _value(value), _field_help(field)) for field, value in fixed.items()]
    if "optimizer" in fixed and fixed["optimizer"] != "sgd":  # say which fixed fields do nothing
        rows = [(f, f"{v} (not used by {fixed['optimizer']})" if f == "momentum" else v, m) for f, v, m in rows]
    for group, label in (("per_dataset", "per dataset"), ("per_activation", "per activation")):
        for field, mapping in setup[group].items():
            text = ", ".join(f"{k}: {_value(v)}" for k, v in mapping.items())
            rows.append((field, f"{label}: {text}", _field_help(field)))
    for field, entry in setup.get("tuned", {}).items():
        shown = ", ".join(_value(v) for v in entry["selected"]) or "none yet"
        common = entry["common"]
        common_text = ", ".join(_value(v) for v in common) if isinstance(common, list) else _value(common)
        none = f"; no selection in {entry['no_selection']} (every candidate diverged)" if entry["no_selection"] else ""
        rows.append(
            (
                field,
                f"tuned per cell and activation (selected: {shown}{none}); the other tables: {common_text} "
                "(the common value)",
                _field_help(field),
            )
        )
    return rows


def _joined(value: Any) -> str:
    return ", ".join(value) + " (the runs differ)" if isinstance(value, list) else str(value)


#: The Setup's warning for a tuned sweep stored before ``split_seed`` (each seed its own split).
LEAKY_TUNE = (
    "**Warning:** the tuned sweep `{sweep}` was stored by an older actcmp whose runs drew each seed's own "
    "split, so its tuning runs validated on rows that were evaluation runs' test rows (its selection saw "
    "test data). Rerun it into a new directory for a clean comparison."
)


def _split_item(setup: dict[str, Any]) -> str | None:
    """How the runs' train/validation/test rows were drawn: by each seed, or one split."""
    fixed, grid = setup.get("fixed", {}), setup.get("grid", {})
    shares = ", ".join(
        f"{name} {_value(fixed[key])}" for key, name in (("val_fraction", "validation"), ("test_fraction", "test"))
        if key in fixed
    )  # fmt: skip
    shares = f" ({shares} of the rows)" if shares else ""
    if "split_seed" in grid:
        own = " (none: each seed its own)" if None in grid["split_seed"] else ""
        return f"Split{shares}: one per value of the grid axis split_seed{own}, shared by the seeds of a cell."
    if "split_seed" not in fixed:
        return None
    if fixed["split_seed"] is None:
        return f"Split{shares}: each seed draws its own train/validation/test rows."
    return (
        f"Split{shares}: one for every run (split_seed {_value(fixed['split_seed'])}): every seed tests on the "
        "same rows, and no run validates or trains on them."
    )


def _versions_item(sweep: dict[str, Any]) -> str | None:
    """Where the directory holds several versions of a tuned sweep (:func:`sweep_versions`): how
    many, that each is compared apart, and which one the sweep file stated below is (the store
    records each version's settings, never its sweep file: sweep.json holds the last run's)."""
    versions: dict[str, int] = sweep.get("versions") or {}
    if not versions:
        return None
    counts = ", ".join(f"{count} of `{name}`" for name, count in versions.items())
    named, version = sweep.get("name"), sweep.get("sweep_file_version")
    if named in versions and version:
        which = f"version {version} of {versions[named]} of `{named}`"
    elif named:
        which = f"`{named}`" + (", none of those versions as stored" if named in versions else "")
    else:
        which = "not known: sweep.json could not be read"
    return (
        f"Versions of a tuned sweep (one name run again with other candidates, grid or settings): {counts}, "
        "each tuned, selected and compared on its own in the [tuned comparison](#tuned-comparison). The store "
        "records each version's settings, not its sweep file or git commit; the sweep file below, from sweep.json "
        f"(the last run into the directory), is that of {which}."
    )


def _names(values: Sequence[Any]) -> str:
    """``digits, mnist1d``: values as the Setup states them, Markdown punctuation in user names
    (a file name's ``*`` or ``|``) escaped as the tables escape it."""
    from actcmp.report.writers import markdown_name

    return ", ".join(markdown_name(_value(v)) for v in values)


def setup_items(setup: dict[str, Any], directory: str) -> list[str]:
    """The Setup's bullet list: sweep and origin, runs and dates, axes and seeds, init,
    software and hardware."""
    sweep, runs, env = setup["sweep"], setup["runs"], setup["environment"]
    origin = setup["provenance"]
    from actcmp.report.incomplete import incomplete_item

    items = []
    incomplete = incomplete_item(setup)
    if incomplete:  # first: the rest describes the plan, the tables only what is stored of it
        items.append(incomplete)
    every = sweep.get("all") or []
    # sweep.json (the last run into the directory) names it; unreadable, the store's one sweep
    name = sweep.get("name") or (every[0] if len(every) == 1 else None) or "not recorded"
    description = f" ({sweep['description']})" if sweep.get("description") else ""
    if len(every) > 1:  # several sweeps in one directory: the tables pool their runs
        names = ", ".join(f"`{n}`" for n in every)
        last = (
            f"the sweep file below is that of the last run into it, `{name}`{description}"
            if sweep.get("name")
            else "its sweep.json could not be read"
        )
        items.append(
            f"Sweeps: {names} (this directory holds {len(every)}; the tables pool their runs; {last}); "
            f"results in `{directory}`."
        )
    else:
        items.append(f"Sweep: `{name}`{description}; results in `{directory}`.")
    versions_item = _versions_item(sweep)
    if versions_item:
        items.append(versions_item)
    if origin.get("git_commit"):
        dirty = " with uncommitted changes" if origin.get("git_dirty") else ""
        where = f"`{origin['sweep_file']}`" if origin.get("sweep_file") else origin.get("of", "the sweep")
        items.append(
            f"Sweep file: {where}; git commit `{origin['git_commit'][:12]}`{dirty} (read at {origin['when']})."
        )
    elif origin.get("sweep_file"):
        items.append(f"Sweep file: `{origin['sweep_file']}`; git commit: none (not in a git repository).")
    else:
        source = origin.get("source") or NOT_RECORDED
        items.append(f"Sweep file and git commit: {source if source != 'command line' else 'none (command line)'}.")
    if origin.get("reference"):  # a literature setup (the sweep file's reference and deviations)
        items.append(f"Reproduces: {str(origin['reference']).rstrip('. ')}.")
    deviations = [str(d).strip().rstrip(".;") for d in origin.get("deviations") or [] if str(d).strip()]
    if deviations:
        items.append(f"Differs from it: {'; '.join(deviations)}.")
    dates = setup["dates"]
    when = f"finished between {dates['first']} and {dates['last']}" if dates.get("first") else "dates not recorded"
    counts = f"{runs['done']} done, {runs['diverged']} diverged, {runs['failed']} failed"
    if "tuning" in runs:  # [tune]: the other tables hold the runs at the common value only
        tuning, selected = runs["tuning"], runs["at_selected"]
        items.append(
            f"Runs in the tables: {runs['stored']}, at the common value of the tuned fields ({counts}), {when}; "
            f"besides, in the [tuned comparison](#tuned-comparison) only, {tuning['stored']} tuning runs "
            f"({tuning['done']} done, {tuning['diverged']} diverged, {tuning['failed']} failed) and "
            f"{selected['stored']} evaluation runs at a selected value other than the common one "
            f"({selected['done']} done, {selected['diverged']} diverged, {selected['failed']} failed)."
        )
    else:
        items.append(f"Runs: {runs['stored']} stored ({counts}), {when}.")
    if runs["stored"]:
        axes = "; ".join(f"{k}: {_names(values)}" for k, values in setup["grid"].items())
        items.append(f"Grid axes: {axes or 'none'}.")
        seeds = setup["seeds"]
        fewest, most = setup.get("seeds_per_cell") or [len(seeds)] * 2
        per_cell = f"{most} per cell" if fewest == most else f"{fewest} to {most} per cell: cells differ"
        per_cell = f"stored: {per_cell}" if runs.get("pending") else per_cell
        items.append(f"Seeds: {', '.join(_value(s) for s in seeds) or 'none'} ({per_cell}).")
        split = _split_item(setup)
        if split:
            items.append(split)
    else:  # what the axes, seeds and split are is read from the stored runs: none yet
        items.append(
            "No run of the tables is stored yet (a tuned sweep stores them after its tuning runs): the grid "
            "axes, seeds, split and run fields are stated once they are."
        )
    for tune in setup.get("tune", []):
        candidates = "; ".join(f"{k} in {', '.join(_value(v) for v in vs)}" for k, vs in tune["candidates"].items())
        common = ", ".join(f"{k} {_value(v)}" for k, v in tune["common"].items()) or "none"
        items.append(
            f"Tuned per cell and activation (sweep `{tune['sweep']}`, [tuned comparison](#tuned-comparison)): "
            f"{candidates}, selected by {tune['select_by']} (mean over the tuning seeds "
            f"{', '.join(_value(v) for v in tune['tuning_seeds'])}), evaluated on the seeds "
            f"{', '.join(_value(v) for v in tune['evaluation_seeds'])}; common value shown beside: {common}. "
            + (
                'The tuning runs record the validation loss alone (every epoch; [tune] record = "val_loss").'
                if tune.get("tuning_record", "full") == "val_loss"
                else 'The tuning runs record everything an evaluation run does ([tune] record = "full").'
            )
        )
        if tune.get("per_seed_split"):
            items.append(LEAKY_TUNE.format(sweep=tune["sweep"]))
    init = setup["init"]
    if init:
        parts = []
        for name, entry in init.items():
            gain = f" gain {entry['gain']:.3f}" if entry["gain"] is not None else ""
            parts.append(f"{name} {entry['rule']}{gain}")
        items.append(
            f"Initialisation (hidden layers; output layer gain 1): {'; '.join(parts)} [details](#initialisation)."
        )
    items.append(
        f"Software: actcmp {_joined(env['actcmp'])}, torch {_joined(env['torch'])}, python {_joined(env['python'])}, "
        f"numpy {_joined(env['numpy'])} (report made with numpy {setup['report_software']['numpy']}, "
        f"scipy {setup['report_software']['scipy']})."
    )
    items.append(
        f"Hardware: device {_joined(env['device'])}; CPU kernel family (ATen CPU capability) "
        f"{_joined(env['cpu_capability'])}; engine {_joined(env['engine'])}; platform {_joined(env['platform'])}."
    )
    return items


__all__ = ["NOT_RECORDED", "collect_setup", "run_fields", "setup_items", "setup_rows", "write_setup_json"]
