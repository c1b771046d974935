"""NumPy glass-box reference for RNN, LSTM and GRU: the test oracle and the teaching copy.

NumPy only — it never imports torch, and the engine never imports it. One layer, one direction, batched,
float64, with exactly the equations, parameter layouts and gate orders of ``torch.nn.RNN/LSTM/GRU``.

Shapes: B batch, T time, I input size, H hidden size, G gates (1 RNN; 4 LSTM, order i, f, g, o;
3 GRU, order r, z, n). x (T, B, I); h0, c0 (B, H); hs, cs (T, B, H).
Parameters, min-char-rnn names in PyTorch layouts: ``Wxh`` (G*H, I), ``Whh`` (G*H, H), ``bxh`` (G*H,),
``bhh`` (G*H,); the biases may be absent (``bias=False``).

Each of :mod:`rnn`, :mod:`lstm`, :mod:`gru` has ``forward(...) -> (hs, [cs,] cache)``,
``backward(dhs, cache, dh_n=None[, dc_n=None]) -> grads`` (explicit BPTT), ``init_params`` and
``params_from_state_dict``; :mod:`gradcheck` checks backward against central differences.
"""

from seqlab.reference import gradcheck, gru, lstm, rnn
from seqlab.reference._common import params_from_state_dict

__all__ = ["rnn", "lstm", "gru", "gradcheck", "params_from_state_dict"]
