"""seqlab: sequence modeling with recurrent networks.

An RNN/LSTM/GRU engine with hand-written backpropagation through time (drop-in for torch.nn), a NumPy
reference, and the tasks, data pipeline, trainer, checkpoints and CLI around it.
"""

from seqlab.engine import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, truncated_bptt
from seqlab.errors import CheckpointError, ConfigError, DataError, SeqlabError

__version__ = "0.1.0"

__all__ = [
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "truncated_bptt",
    "SeqlabError", "DataError", "ConfigError", "CheckpointError", "__version__",
]
