"""Activation registry: every entry builds, names are canonical, derivatives are right."""

from __future__ import annotations

import math

import pytest
import torch

from actcmp.core.activations import (
    REGISTRY,
    autograd_derivative,
    canonical_name,
    derivative_of_output,
    parse_activation,
)
from actcmp.errors import UnknownActivation

HIDDEN = [name for name, info in REGISTRY.items() if info.hidden_ok]
REQUIRED = [
    "identity",
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "sigmoid",
    "tanh",
    "hardtanh",
    "relu6",
    "hardswish",
    "softsign",
]


def test_required_entries_present() -> None:
    assert set(REQUIRED) <= set(REGISTRY)
    assert "softmax" in REGISTRY and REGISTRY["softmax"].output_only


@pytest.mark.parametrize("name", HIDDEN)
def test_builds_and_is_elementwise(name: str) -> None:
    spec = parse_activation(name)
    module = spec.build()
    z = torch.linspace(-4, 4, 33).reshape(3, 11)
    out = module(z)
    assert out.shape == z.shape
    # elementwise: permuting inputs permutes outputs
    perm = torch.randperm(z.numel(), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(module(z.flatten()[perm]), out.flatten()[perm])


VARIANTS = [
    *HIDDEN,
    "leaky_relu(negative_slope=0.2)",
    "leaky_relu(negative_slope=0)",
    "elu(alpha=0.5)",
    "gelu(approximate=tanh)",
    "softplus(beta=2)",
    "softplus(beta=0.5,threshold=3)",
    "celu(alpha=2)",
    "celu(alpha=0.3)",
    "hardtanh(min_val=-2)",
    "hardtanh(min_val=0.5,max_val=3)",
    "torch.nn.functional:softsign",
]
#: the kinks and thresholds of every entry: 0, +-0.5, +-1, +-2, +-3, +-6, softplus's
#: threshold/beta points (20, 10, 6), the smallest normal numbers and their neighbours
KINKS = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 6.0, -6.0, 10.0, 20.0, 40.0, 1e-30, -1e-30]


def _grid(dtype: torch.dtype) -> torch.Tensor:
    """A dense grid over [-25, 45] plus every kink and its two float neighbours."""
    dense = torch.linspace(-25, 45, 7001, dtype=dtype)
    kinks = torch.tensor(KINKS, dtype=dtype)
    up = torch.nextafter(kinks, torch.full_like(kinks, math.inf))
    down = torch.nextafter(kinks, torch.full_like(kinks, -math.inf))
    return torch.cat([dense, kinks, up, down])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", VARIANTS)
def test_derivative_is_autograds_including_the_kinks(name: str, dtype: torch.dtype) -> None:
    """``spec.derivative`` (what the probes' dead and saturated masks use) equals
    autograd through the module, bit for bit, on a dense grid and at every kink: both
    run the same ATen backward kernel (or autograd itself)."""
    spec = parse_activation(name)
    module = spec.build().to(dtype)
    z = _grid(dtype)
    expected = autograd_derivative(module, z)
    got = spec.derivative(z, module)
    assert got.dtype == dtype and got.shape == z.shape
    mismatch = (got != expected).nonzero().flatten()
    assert mismatch.numel() == 0, (name, z[mismatch][:5].tolist(), got[mismatch][:5].tolist())
    # also on a strided 3-d slice, as the batched probe passes it
    z3 = z[:7000].reshape(4, 50, 35).transpose(1, 2)
    assert torch.equal(spec.derivative(z3, module), autograd_derivative(module, z3))


def test_hardswish_kinks_are_autograds() -> None:
    """The hand-written form gave -0.5 and 1.5 at z = -3 and 3; autograd gives 0 and 1."""
    z = torch.tensor([-3.0, 3.0, -6.0, 0.0], dtype=torch.float64)
    assert parse_activation("hardswish").derivative(z).tolist() == [0.0, 1.0, 0.0, 0.5]


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_derivative_of_output_is_the_derivative(name: str) -> None:
    spec = parse_activation(name)
    z = _grid(torch.float32)
    h = spec.build()(z)
    assert torch.equal(derivative_of_output(name, h), spec.derivative(z))


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        pytest.param("relu", "relu", id="plain"),
        pytest.param("ReLU", "relu", id="case"),
        pytest.param("swish", "silu", id="alias-swish"),
        pytest.param("leaky_relu(negative_slope=0.01)", "leaky_relu", id="default-dropped"),
        pytest.param("leaky_relu(negative_slope=0.2)", "leaky_relu(negative_slope=0.2)", id="param"),
        pytest.param("leaky_relu( negative_slope = .2 )", "leaky_relu(negative_slope=0.2)", id="spaces"),
        pytest.param("elu(alpha=1)", "elu", id="int-default"),
        pytest.param("gelu(approximate=tanh)", "gelu(approximate=tanh)", id="string-param"),
        pytest.param("gelu_tanh", "gelu(approximate=tanh)", id="alias-with-param"),
        pytest.param("softplus(threshold=10,beta=2)", "softplus(beta=2,threshold=10)", id="sorted"),
    ],
)
def test_canonical_names(text: str, canonical: str) -> None:
    assert canonical_name(text) == canonical


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("gelux", "did you mean 'gelu'", id="typo"),
        pytest.param("leaky_relu(slope=0.2)", "has no parameter 'slope'", id="bad-param"),
        pytest.param("leaky_relu(negative_slope=abc)", "must be a number", id="bad-value"),
        pytest.param("relu(0.2)", "must be key=value", id="positional"),
        pytest.param("", "empty", id="empty"),
        pytest.param("softmax", "only allowed as an output", id="softmax-hidden"),
        pytest.param("nosuchmodule_xyz:act", "cannot import module", id="bad-module"),
        pytest.param("math:nosuch", "has no attribute", id="bad-attr"),
        pytest.param("math:pi", "not callable", id="not-callable"),
        pytest.param("gelu(approximate=cubic)", "approximate must be", id="bad-choice"),
    ],
)
def test_bad_names(text: str, fragment: str) -> None:
    with pytest.raises(UnknownActivation, match=fragment.replace("(", r"\(")):
        parse_activation(text)


def test_user_callable() -> None:
    spec = parse_activation("torch.nn.functional:softsign")
    assert spec.canonical == "torch.nn.functional:softsign"
    z = torch.linspace(-2, 2, 9)
    assert torch.allclose(spec.build()(z), torch.nn.functional.softsign(z))
    assert torch.allclose(spec.derivative(z), 1 / (1 + z.abs()) ** 2)
    module_spec = parse_activation("torch.nn:Tanh")
    assert isinstance(module_spec.build(), torch.nn.Tanh)


def test_prelu_is_learnable() -> None:
    module = parse_activation("prelu").build()
    assert sum(p.numel() for p in module.parameters()) == 1


@pytest.fixture
def package_in_cwd(tmp_path, monkeypatch: pytest.MonkeyPatch) -> str:
    """./actcmp_user_pkg/acts.py in a fresh current directory that is not on sys.path."""
    import sys

    package = tmp_path / "actcmp_user_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "acts.py").write_text("import torch\n\ndef my_act(x):\n    return torch.tanh(x) * 0.5\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(tmp_path))])
    for name in [m for m in sys.modules if m.startswith("actcmp_user_pkg")]:
        monkeypatch.delitem(sys.modules, name)
    yield "actcmp_user_pkg.acts:my_act"
    for name in [m for m in sys.modules if m.startswith("actcmp_user_pkg")]:
        del sys.modules[name]


def test_user_callable_from_the_current_directory(package_in_cwd: str, tmp_path) -> None:
    import sys

    spec = parse_activation(package_in_cwd)
    assert spec.canonical == package_in_cwd
    z = torch.linspace(-2, 2, 9)
    assert torch.allclose(spec.build()(z), torch.tanh(z) * 0.5)
    assert sys.path[-1] == str(tmp_path)  # appended: installed packages are not shadowed
    parse_activation(package_in_cwd)
    assert sys.path.count(str(tmp_path)) == 1


@pytest.mark.slow
def test_user_callable_from_the_current_directory_in_workers(package_in_cwd: str, tmp_path) -> None:
    # --jobs 2: spawned worker processes resolve the canonical name again
    from typer.testing import CliRunner

    from actcmp.cli import app
    from actcmp.store.database import load_results

    out = tmp_path / "res"
    args = ["run", "--activations", f"{package_in_cwd},relu", "--datasets", "clusters", "--depths", "1"]
    args += ["--epochs", "1", "--jobs", "2", "--engine", "plain", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = load_results(out).runs
    assert sorted(runs["status"]) == ["done", "done"]
    assert package_in_cwd in set(runs["activation"])


@pytest.mark.slow
def test_user_callable_resolved_in_a_fresh_process(package_in_cwd: str) -> None:
    # what a worker does: no PYTHONPATH, the sweep's directory as its cwd (-P: python -c adds no '')
    import os
    import subprocess
    import sys

    code = f"from actcmp.core.activations import parse_activation; print(parse_activation({package_in_cwd!r}).build())"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Lambda" in proc.stdout


CLOSED_FORMS = {
    "gelu": lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2))) + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi),
    "silu": lambda z: torch.sigmoid(z) * (1 + z * (1 - torch.sigmoid(z))),
    "elu(alpha=0.5)": lambda z: torch.where(z > 0, 1.0, 0.5 * torch.exp(z)),
    "mish": lambda z: (
        torch.tanh(torch.nn.functional.softplus(z))
        + z * torch.sigmoid(z) * (1 - torch.tanh(torch.nn.functional.softplus(z)) ** 2)
    ),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_kernel_derivatives_match_their_closed_form(name: str) -> None:
    """The derivatives taken from ATen's backward kernels against the textbook formulas
    (independent of autograd), in float64 and float32."""
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-6)):
        z = torch.linspace(-9.013, 9.017, 801, dtype=dtype)
        got = parse_activation(name).derivative(z)
        torch.testing.assert_close(got, CLOSED_FORMS[name](z), rtol=tol, atol=tol)


def test_every_registry_entry_builds_and_applies_at_its_defaults() -> None:
    """What lets ``check_builds`` skip a registry name without parameters (and the sweep's
    main process skip importing torch): every entry builds and maps [2, 4] to [2, 4]."""
    from actcmp.core.activations import REGISTRY, apply_once, parse_activation

    for name, info in REGISTRY.items():
        apply_once(name, parse_activation(name, hidden=info.hidden_ok))


def test_check_builds_skips_plain_registry_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.core import activations

    built: list[str] = []
    monkeypatch.setattr(activations, "apply_once", lambda text, spec: built.append(text))
    for name in ("relu", "gelu", "swish", "elu(alpha=1.0)", "elu(alpha=0.5)", "torch.nn.functional:silu"):
        activations.check_builds(name)
    assert built == ["elu(alpha=0.5)", "torch.nn.functional:silu"]  # a default spelled out is no parameter


def test_check_builds_still_builds_parameters_and_callables() -> None:
    from actcmp.core.activations import check_builds

    check_builds("elu(alpha=0.5)")
    check_builds("torch.nn.functional:silu")
    with pytest.raises(UnknownActivation, match="must map a tensor"):
        check_builds("torch:sum")
