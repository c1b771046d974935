"""Gradient flow through time: ||dL/dh_t|| for every step and layer, the spectral radius of W_hh, and the
per-step diagnostics the trainer logs every ``train.diagnose_every`` steps.

Why it vanishes or explodes. Backpropagation carries dL/dh_t back one step with the Jacobian of the cell:

    dL/dh_{t-1} = (∂h_t/∂h_{t-1})^T dL/dh_t,   RNN:  ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh

so over k steps it is multiplied by k such factors: it shrinks geometrically when their norms stay below 1
(the spectral radius ρ(W_hh) < 1, or saturated tanh units) and can grow geometrically when ρ(W_hh) > 1.
The LSTM's cell state adds a path dc_{t-1} = f_t ⊙ dc_t that is multiplied by the forget gate alone.

What is measured. ``hidden_grad_flow(model, loss_fn)`` runs ``loss_fn()`` while ``recording`` re-runs the
recurrent module step by step (``seqlab.diagnostics.hidden_states``), then asks autograd for dL/dh_t of every
recorded state, L being the loss as the task computes it (a batch mean). ``norm_t`` is the root mean square
over the sequences of the batch of the per-sequence norm ||dL/dh_t[b]||:

    norm_t = sqrt( (1/N_t) Σ_b ||dL/dh_t[b]||² ),   N_t = sequences that have a step at position t

(for equal lengths, the Frobenius norm of the (B, H) gradient divided by √B). With variable lengths the
steps are aligned at each sequence's end (``align="end"``: position T-1 is every sequence's last token,
T-1-k the token k before it), so a position measures the same distance from the loss for every sequence
and does not shrink merely because fewer sequences reach it; ``count[t]`` = N_t.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seqlab.diagnostics.hidden_states import CallTrace, gate_saturation, module_mode, recording, recurrent_modules
from seqlab.engine import functional as Fn

__all__ = ["GradFlow", "hidden_grad_flow", "inspect", "spectral_radius", "scale_recurrent_weights", "step_diagnostics",
           "ALIGNS"]

ALIGNS = ("end", "start")


@dataclass(frozen=True)
class GradFlow:
    """||dL/dh_t|| per step for one recurrent module on one batch."""

    loss: float  # the loss value whose gradient was taken
    module: str  # the recurrent module's name inside the model
    mode: str  # rnn_tanh | rnn_relu | lstm | gru
    align: str  # "end": position T-1 is each sequence's last valid step; "start": position t is step t
    layers: dict[str, list[float]]  # "l0", "l0_reverse", ... -> norm_t (RMS of ||dL/dh_t[b]||) for t in 0..T-1
    top: list[float]  # the last layer, directions concatenated (the h_t the head reads) -> norm_t
    count: list[int]  # sequences with a valid step at each position

    def to_dict(self) -> dict:
        return {"loss": self.loss, "module": self.module, "mode": self.mode, "align": self.align,
                "top": self.top, "layers": self.layers, "count": self.count}


def hidden_grad_flow(model: nn.Module, loss_fn, *, align: str = "end", module: str | None = None) -> GradFlow:
    """dL/dh_t norms of the recurrent module's longest call while ``loss_fn()`` computes a scalar loss.

    Parameter ``.grad`` fields are left untouched (``torch.autograd.grad``, not ``backward``).
    """
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
    with torch.enable_grad(), recording(model, gates=False) as rec:
        loss = loss_fn()
    if not rec.calls:
        raise ValueError(f"{type(model).__name__} called no recurrent module (seqlab or torch.nn RNN/LSTM/GRU) "
                         "while computing the loss; gradient flow needs one")
    call = rec.main(module)
    return _flow(loss, call, align)


def _flow(loss: Tensor, call: CallTrace, align: str) -> GradFlow:
    hs = [h for tr in call.layers for h in tr.h]
    grads = torch.autograd.grad(loss, hs, allow_unused=True, retain_graph=True)
    T = call.steps
    sq_by_layer, count = {}, None
    for n, tr in enumerate(call.layers):
        g = torch.stack([torch.zeros_like(h) if d is None else d for h, d in
                         zip(tr.h, grads[n * T:(n + 1) * T], strict=True)])  # (T, B, H)
        sq, ok = _aligned(g.double().square().sum(-1), tr.valid, align)  # (T, B) squared norms, valid
        sq_by_layer[tr.name] = sq.sum(1)  # (T,)
        count = ok.sum(1)
    top = sum(sq_by_layer[tr.name] for tr in call.top())
    n = count.clamp(min=1).double()  # a position no sequence reaches reports 0
    layers = {k: _floats((v / n).sqrt()) for k, v in sq_by_layer.items()}
    return GradFlow(float(loss.detach()), call.module, call.mode, align, layers, _floats((top / n).sqrt()),
                    [int(c) for c in count])


def _aligned(sq: Tensor, valid: Tensor, align: str) -> tuple[Tensor, Tensor]:
    """(T, B) per-example values at valid steps, moved so that position T-1 is each sequence's last step."""
    sq = sq * valid
    if align == "start":
        return sq, valid
    T = sq.shape[0]
    shift = T - valid.sum(0)  # (B,) padded steps of each sequence
    src = torch.arange(T, device=sq.device).unsqueeze(1) - shift.unsqueeze(0)  # (T, B) source step per position
    ok = src >= 0
    return sq.gather(0, src.clamp(min=0)) * ok, ok


def _floats(t: Tensor) -> list[float]:
    return [float(v) for v in t]


# ---------------------------------------------------------------- recurrent weights


def _gate_blocks(module: nn.Module):
    """(layer/direction name, gate name, W_hh block (H, H)) for every gate of every layer and direction."""
    mode = module_mode(module)
    names = Fn.GATE_ORDER[mode]
    D = 2 if module.bidirectional else 1
    for layer in range(module.num_layers):
        for d in range(D):
            key = f"l{layer}" + ("_reverse" if d else "")
            w_hh = getattr(module, "weight_hh_" + key)  # (G*H, H)
            for g, block in zip(names, w_hh.chunk(len(names), dim=0), strict=True):
                yield key, g, block


@torch.no_grad()
def spectral_radius(module: nn.Module) -> dict[str, dict[str, dict[str, float]]]:
    """Per layer/direction and gate block of W_hh: ``radius`` ρ = max |eigenvalue| and ``norm`` = largest
    singular value σ_max (≥ ρ; it bounds how much one step can stretch a gradient)."""
    out: dict = {}
    for key, g, block in _gate_blocks(module):
        w = block.detach().double().cpu()
        rho = float(torch.linalg.eigvals(w).abs().max())
        sigma = float(torch.linalg.matrix_norm(w, ord=2))
        out.setdefault(key, {})[g] = {"radius": rho, "norm": sigma}
    return out


@torch.no_grad()
def scale_recurrent_weights(module: nn.Module, radius: float) -> None:
    """Rescale every gate block of every W_hh in place so that its spectral radius is ``radius``."""
    if not radius > 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    for _, _, block in _gate_blocks(module):
        rho = float(torch.linalg.eigvals(block.detach().double().cpu()).abs().max())
        if rho == 0:
            raise ValueError("a W_hh block is all zeros: its spectral radius cannot be scaled")
        block.mul_(radius / rho)  # a view of weight_hh: scales the parameter itself


# ---------------------------------------------------------------- what the trainer logs


def inspect(model: nn.Module, loss_fn, *, align: str = "end") -> dict[str, dict]:
    """Everything at once, from one recorded forward through ``loss_fn()`` and one ``autograd.grad``: per
    recurrent module that was called, ``{"flow": GradFlow, "spectral_radius": ..., "saturation": ...}``
    (see ``spectral_radius`` and ``hidden_states.gate_saturation``). Parameter ``.grad`` is left untouched."""
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {ALIGNS}, got {align!r}")
    with torch.enable_grad(), recording(model, gates=True) as rec:
        loss = loss_fn()
    out = {}
    for name in dict.fromkeys(c.module for c in rec.calls):
        call = rec.main(name)
        out[name] = {"flow": _flow(loss, call, align), "spectral_radius": spectral_radius(model.get_submodule(name)),
                     "saturation": gate_saturation(call)}
    return out


def step_diagnostics(model: nn.Module, loss_fn, *, align: str = "end") -> dict:
    """What the trainer logs every ``train.diagnose_every`` steps: ``{"recurrent": {module: {layer: {
    "spectral_radius": {gate: ρ}, "saturation": {gate: share}, "grad_h": [||dL/dh_t|| for t]}}}}``,
    rounded to 4 significant digits; ``{}`` for a model with no recurrent module."""
    if not recurrent_modules(model):
        return {}
    out = {}
    for name, r in inspect(model, loss_fn, align=align).items():
        out[name or "rnn"] = {
            key: {"spectral_radius": {g: _sig(v["radius"]) for g, v in r["spectral_radius"][key].items()},
                  "saturation": {g: _sig(v["saturated"]) for g, v in r["saturation"][key].items()},
                  "grad_h": [_sig(v) for v in grads]}
            for key, grads in r["flow"].layers.items()
        }
    return {"recurrent": out} if out else {}


def _sig(v: float) -> float:
    """Four significant digits: enough to read a trend, short enough for one metrics line per check."""
    return float(f"{v:.4g}")
