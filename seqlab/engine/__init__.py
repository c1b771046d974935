"""seqlab's recurrent engine: RNN/LSTM/GRU with hand-written BPTT, drop-in for torch.nn.

Shape vocabulary: B batch, T time, D directions, L layers, I input features, H hidden size, G gates.
"""

from seqlab.engine.layers import CELL_NAMES, GRU, IMPLS, LSTM, RNN, GRUCell, LSTMCell, RNNCell, build_rnn
from seqlab.engine.state import detach_state, select_state, zero_state
from seqlab.engine.tbptt import truncated_bptt

__all__ = [
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "IMPLS", "CELL_NAMES", "build_rnn",
    "truncated_bptt", "detach_state", "select_state", "zero_state",
]
