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
GATE_INITS = ("default", "forget_bias", "chrono")


class RecurrentModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out. ``max_len`` is accepted for the shared contract; a recurrent
    model has no length limit."""

    state_grows_with_length = False  # h (and c): fixed by hidden_size

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, kind: str = "GRU",
                 hidden_size: int = 128, num_layers: int = 1, dropout: float = 0.0, gate_init: str = "default"):
        super().__init__()
        if kind not in KINDS:
            raise ModelConfigError(f"model.kind={kind!r}: allowed are {', '.join(KINDS)}")
        if gate_init not in GATE_INITS or (gate_init != "default" and kind == "RNN"):
            allowed = "default" if kind == "RNN" else ", ".join(GATE_INITS)
            raise ModelConfigError(f"model.gate_init={gate_init!r}: allowed for model.kind={kind} are {allowed}")
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
        if gate_init != "default":
            self.init_gates(gate_init, max_len)

    @torch.no_grad()
    def init_gates(self, how: str, horizon: int) -> None:
        """Bias the gates that keep the state towards keeping it. ``forget_bias``: the LSTM's forget gate (the
        GRU's update gate, its counterpart) starts at bias 1 (Jozefowicz, Zaremba & Sutskever 2015). ``chrono``:
        that bias is log(u), u ~ U[1, horizon - 1], and the LSTM's input gate gets -log(u), so the state's time
        constants spread over the sequence (Tallec & Ollivier 2018, "Can recurrent neural networks warp
        time?"); horizon is max_len, the longest the model is trained on."""
        H = self.hidden_size
        keep = slice(H, 2 * H)  # the LSTM's forget gate (i, f, g, o) and the GRU's update gate (r, z, n)
        for layer in range(self.num_layers):
            bias_ih, bias_hh = getattr(self.rnn, f"bias_ih_l{layer}"), getattr(self.rnn, f"bias_hh_l{layer}")
            if how == "forget_bias":
                bias_ih[keep], bias_hh[keep] = 1.0, 0.0
                continue
            timescale = torch.log(torch.empty(H).uniform_(1.0, max(2.0, horizon - 1.0)))
            bias_ih[keep], bias_hh[keep] = timescale, 0.0
            if self.kind == "LSTM":
                bias_ih[:H], bias_hh[:H] = -timescale, 0.0

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens))  # (B, L, H): state after reading tokens 0..t
        return self.head(states)  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: h per layer (RNN, GRU), h and c (LSTM)."""
        return (2 if self.kind == "LSTM" else 1) * self.hidden_size * self.num_layers
