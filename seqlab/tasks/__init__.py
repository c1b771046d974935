"""Task heads: each is a model head on the engine plus its loss, metrics and decoding."""
