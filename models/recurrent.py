"""One recurrent class for Elman RNN, GRU and LSTM, chosen by ``kind``.

As in pytorch/examples' word_language_model: ``getattr(nn, kind)`` instead of a
near-copy of the class per variant. A recurrent network reads left to right, so
it is causal by construction; everything it knows about the past must fit in
its fixed-size state, which is the limited window this harness measures.
On CUDA, ``nn.GRU``/``nn.LSTM``/``nn.RNN`` dispatch to cuDNN.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models.base import ModelConfigError, require_dropout, require_positive

KINDS = ("RNN", "GRU", "LSTM")


class RecurrentModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out. ``max_len`` is accepted for the shared contract; a recurrent
    model has no length limit."""

    state_grows_with_length = False  # h (and c): fixed by hidden_size

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, kind: str = "GRU",
                 hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        if kind not in KINDS:
            raise ModelConfigError(f"model.kind={kind!r}: allowed are {', '.join(KINDS)}")
        for key, value in [("model.hidden_size", hidden_size), ("model.num_layers", num_layers),
                           ("vocab_size", vocab_size), ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        require_dropout("model.dropout", dropout)
        self.kind, self.hidden_size, self.num_layers = kind, hidden_size, num_layers
        self.embed = nn.Embedding(vocab_size, hidden_size)
        extra = {"nonlinearity": "tanh"} if kind == "RNN" else {}  # Elman network
        self.rnn = getattr(nn, kind)(hidden_size, hidden_size, num_layers, batch_first=True,
                                     dropout=dropout if num_layers > 1 else 0.0, **extra)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens))  # (B, L, H): state after reading tokens 0..t
        return self.head(states)  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: h per layer (RNN, GRU), h and c (LSTM)."""
        return (2 if self.kind == "LSTM" else 1) * self.hidden_size * self.num_layers
