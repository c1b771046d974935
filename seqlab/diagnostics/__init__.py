"""See inside recurrent networks: gradient flow through time, exploding gradients, gate saturation, hidden states.

* ``hidden_states``: ``recording(model)`` re-runs every recurrent module step by step, keeping each h_t (in
  the autograd graph), c_t and gate; ``gate_saturation``.
* ``grad_flow``: ``hidden_grad_flow`` (||dL/dh_t|| per step and layer), ``spectral_radius`` of W_hh,
  ``scale_recurrent_weights``, ``inspect`` (all at once) and ``step_diagnostics`` (what the trainer logs
  every ``train.diagnose_every`` steps).
* ``synthetic``: the adding and copy tasks (data, model, objective, training).
* ``experiments`` / ``inspect_run``: what ``seqlab diagnose ...`` runs; ``plots``: the figures.
"""

from seqlab.diagnostics.grad_flow import (
    GradFlow,
    hidden_grad_flow,
    inspect,
    scale_recurrent_weights,
    spectral_radius,
    step_diagnostics,
)
from seqlab.diagnostics.hidden_states import CallTrace, LayerTrace, Recording, gate_saturation, recording, unroll

__all__ = [
    "GradFlow", "hidden_grad_flow", "inspect", "scale_recurrent_weights", "spectral_radius", "step_diagnostics",
    "CallTrace", "LayerTrace", "Recording", "gate_saturation", "recording", "unroll",
]
