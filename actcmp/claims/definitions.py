"""The definitions a reader of the claims will question, stated where the verdicts are.

* **dead** and **saturated** units: what the stored metrics count (unchanged: the stored
  ``saturated_fraction`` keeps its meaning, so old stores stay interpretable), and **stuck**
  units (dead or saturated: :func:`actcmp.claims.checks.units.stuck_fraction`), which claim 3
  compares between ReLU and its fixes;
* **init gains**: the weight scale each activation gets under ``init = "auto"`` (and the
  ``torch-default`` rule), beside the literature's rule, and the gain that would keep the
  forward second moment of a unit Gaussian pre-activation, computed here.

Nothing here plots or decides; :mod:`actcmp.claims.document` renders the section.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: what the literature / torch say about each activation's init scale (checked against
#: He et al. 2015, Clevert et al. 2016, Klambauer et al. 2017, Glorot & Bengio 2010 and
#: ``torch.nn.init.calculate_gain``)
LITERATURE = {
    "relu": "He et al. 2015: gain sqrt(2); torch calculate_gain('relu') = sqrt(2)",
    "leaky_relu": "He et al. 2015: sqrt(2 / (1 + a^2)), a = 0.01; torch calculate_gain('leaky_relu', 0.01) the same",
    "prelu": "He et al. 2015 (PReLU, a = 0.25 at init): sqrt(2 / (1 + a^2))",
    "elu": "Clevert et al. 2016 initialise ELU networks 'according to He et al. 2015' (sqrt(2)); torch has no ELU gain",
    "selu": "Klambauer et al. 2017: LeCun, variance 1/fan_in; torch advises nonlinearity='linear' (gain 1)",
    "gelu": "no published rule; He's sqrt(2) as for ReLU (a choice)",
    "silu": "no published rule; He's sqrt(2) as for ReLU (a choice)",
    "tanh": "Glorot & Bengio 2010 (gain 1); torch calculate_gain('tanh') = 5/3, used here",
    "sigmoid": "Glorot & Bengio 2010; torch calculate_gain('sigmoid') = 1",
    "identity": "LeCun: variance 1/fan_in (gain 1); torch calculate_gain('linear') = 1",
}

SATURATION = (
    "**Saturated unit.** A hidden unit is counted as saturated when |f'(z)| is below 5% of the activation's "
    "peak derivative on at least 95% of the probe inputs (`saturation_threshold`, `saturation_share`). This is "
    "a statement about the slope, not about the activation's shape: Leaky ReLU's negative side has slope "
    "0.01 = 1% of its peak, so a Leaky ReLU unit whose inputs all fall below zero counts as saturated (the "
    "default report can show Leaky ReLU with a third of its units saturated), although its derivative never "
    "tends to 0. The stored metric keeps this meaning; the claims judge saturation only for the bounded family "
    "(sigmoid, tanh), the activations whose derivative tends to 0, and read a Leaky ReLU 'saturated' share as "
    "'on its shallow side'."
)
DEAD = (
    "**Dead unit.** A hidden unit is dead when f'(z) = 0 exactly on every probe input (no gradient passes): "
    "only ReLU-like activations with a flat side can have dead units."
)
STUCK = (
    "**Stuck unit** (claim 3). A hidden unit is stuck when it is dead or saturated as defined above: |f'(z)| "
    "below 5% of the activation's peak derivative on at least 95% of the probe inputs (the stored dead and "
    "saturated fractions are disjoint, so the stuck share is their sum). The same rule for every activation: a "
    "ReLU unit on its flat side, a Leaky ReLU unit on its slope-0.01 side, a PReLU unit on its negative side while "
    "its learned slope is under 5% (a steeper slope is not a shallow side), each for nearly every input. Leaky "
    "ReLU's units cannot be dead (its slope is never 0), so claim 3 asks whether its units, and PReLU's, stay out "
    "of that state more often than ReLU's: the fix's stuck share against ReLU's on the same seed."
)
INIT = (
    '**Initialisation.** `init = "auto"` picks, per activation, the rule in the table below (He for the ReLU '
    "family and the smooth ReLU-likes, Xavier for sigmoid/tanh, LeCun for SELU and identity); the output layer "
    "gets gain 1; biases start at 0. `torch-default` is PyTorch's own `nn.Linear` init, uniform(±1/sqrt(fan_in)) "
    "for weights and biases: weight std 1/sqrt(3 fan_in), gain 1/sqrt(3) ≈ 0.58 for every activation. The last "
    "column is the gain that keeps E[f(z)^2] of a unit Gaussian pre-activation z at 1 from layer to layer "
    "(1/sqrt(E[f(z)^2])): where the gain used is larger, activations grow with depth at initialisation (ELU "
    "under He's gain by about (gain_used/gain_kept)^2 per layer), where it is smaller they shrink. For sigmoid, "
    "whose output has mean 1/2, that number mostly reflects the mean, not the spread."
)

ACTIVATIONS = ("relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "identity")


def second_moment_gain(name: str, points: int = 201) -> float:
    """1 / sqrt(E[f(z)^2]) for z ~ N(0, 1) (Gauss-Hermite quadrature): the gain that keeps
    the forward second moment of a unit Gaussian pre-activation."""
    import numpy as np
    import torch

    from actcmp.core.activations import parse_activation

    nodes, weights = np.polynomial.hermite_e.hermegauss(points)
    with torch.no_grad():
        module = parse_activation(name).build().double()
        values = module(torch.tensor(nodes, dtype=torch.float64)).numpy()
    moment = float(np.sum(weights * values**2) / math.sqrt(2 * math.pi))
    return 1.0 / math.sqrt(moment)


def init_table(activations: tuple[str, ...] = ACTIVATIONS, fan: int = 32) -> pd.DataFrame:
    """Per activation: its family, the rule ``init="auto"`` picks, the gain that rule uses
    (weight std x sqrt(fan_in), for a hidden layer ``fan`` -> ``fan``), the literature,
    and :func:`second_moment_gain`."""
    import pandas as pd

    from actcmp.core.activations import parse_activation
    from actcmp.core.model import resolve_init, weight_std

    rows = []
    for name in activations:
        spec = parse_activation(name)
        rule = resolve_init("auto", spec)
        gain = weight_std(rule, spec, fan, fan) * math.sqrt(fan)
        rows.append(
            {
                "activation": name,
                "family": spec.info.family,
                'rule (init = "auto")': {"kaiming": "He", "xavier": "Xavier", "lecun": "LeCun"}.get(rule, rule),
                "gain used": f"{gain:.3g}",
                "literature": LITERATURE.get(name, ""),
                "gain keeping E[f(z)^2]": f"{second_moment_gain(name):.3g}",
            }
        )
    return pd.DataFrame(rows)


__all__ = ["DEAD", "INIT", "LITERATURE", "SATURATION", "STUCK", "init_table", "second_moment_gain"]
