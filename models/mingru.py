"""minGRU: a GRU whose gates see only the current input, so the whole sequence is one parallel scan.

Feng et al. (2024), "Were RNNs All We Needed?" (arXiv:2410.01201), §3.1:

    z_t = σ(W_z x_t),   h̃_t = W_h x_t,   h_t = (1 - z_t) ⊙ h_{t-1} + z_t ⊙ h̃_t

Neither gate reads h_{t-1}, so h_t = a_t ⊙ h_{t-1} + b_t with a_t = 1 - z_t and b_t = z_t ⊙ h̃_t is a linear
recurrence with a diagonal, input-dependent decay. ``diagonal_scan`` computes it for all t at once in chunks:
within a chunk, h_t = P_t ⊙ (h_0 + Σ_{s≤t} b_s / P_s) with P_t = a_1 ⋯ a_t taken from a cumulative sum of log a_t,
and the state is carried from one chunk to the next. This is the paper's log-space idea (a cumulative sum of log
decays) without its logcumsumexp, which is about 30x slower than cumsum on CPU (measured: 12 ms against 0.4 ms for
32 x 136 x 96 floats); so h̃_t needs no positivity and uses the paper's plain form, not its g(·).

The model stacks pre-norm residual blocks like the attention model's: x + W_out minGRU(norm(x)), then
x + MLP(norm(x)). Each layer carries ``hidden_size`` numbers from one step to the next.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.base import require_dropout, require_positive

CHUNK = 32  # steps per chunk: CHUNK * MAX_STEP_DECAY stays below float64's exp range (709)
MAX_STEP_DECAY = 20.0  # a per-step log decay below -20 is clamped: exp(-20) = 2e-9, below float32 resolution


def diagonal_scan_chunk(log_a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = exp(log_a_t) * h_{t-1} + b_t for the T steps of one chunk at once; log_a, b (B, T, *S), h0 (B, *S).

    Returns the states (B, T, *S) in b's dtype. Computed in float64: 1 / P_s reaches exp(CHUNK * MAX_STEP_DECAY)
    = exp(640), which float64 holds and float32 (exp(88) at most) does not; clamping each step's log decay at
    -MAX_STEP_DECAY changes no state by more than exp(-20) = 2e-9 of its previous value."""
    log_p = log_a.double().clamp(min=-MAX_STEP_DECAY).cumsum(1)  # (B, T, *S): log of a_1 ⋯ a_t, >= -640
    weighted = (b.double() * torch.exp(-log_p)).cumsum(1)  # (B, T, *S): Σ_{s≤t} b_s / P_s
    return (torch.exp(log_p) * (h0.double().unsqueeze(1) + weighted)).to(b.dtype)


def diagonal_scan(log_a: torch.Tensor, b: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """All states of h_t = exp(log_a_t) * h_{t-1} + b_t, h_{-1} = 0; log_a, b (B, L, *S) -> (B, L, *S)."""
    h = b.new_zeros(b.shape[:1] + b.shape[2:])  # (B, *S): the state carried across chunks
    states = []
    for log_a_chunk, b_chunk in zip(log_a.split(chunk, 1), b.split(chunk, 1)):  # split: its backward is one cat
        states.append(diagonal_scan_chunk(log_a_chunk, b_chunk, h))
        h = states[-1][:, -1]
    return torch.cat(states, dim=1)


class MinGRU(nn.Module):
    """One minGRU layer: (B, L, D) -> (B, L, H) states."""

    def __init__(self, d_model: int, hidden_size: int):
        super().__init__()
        self.hidden_size = hidden_size
        self.to_gate_and_candidate = nn.Linear(d_model, 2 * hidden_size)  # W_z and W_h side by side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, candidate = self.to_gate_and_candidate(x).chunk(2, dim=-1)  # (B, L, H) each
        log_a = -F.softplus(gate)  # log(1 - z_t) = log σ(-gate), computed without forming 1 - z_t
        b = torch.sigmoid(gate) * candidate  # z_t ⊙ h̃_t
        return diagonal_scan(log_a, b)  # (B, L, H)


class Block(nn.Module):
    """Pre-norm residual block: x + W_out minGRU(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model, hidden_size, mlp_ratio, dropout):
        super().__init__()
        self.norm_recurrent = nn.LayerNorm(d_model)
        self.recurrent = MinGRU(d_model, hidden_size)
        self.out = nn.Linear(hidden_size, d_model)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.dropout(self.out(self.recurrent(self.norm_recurrent(x))))
        return x + self.mlp(self.norm_mlp(x))


class MinGRUModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out, causal. ``max_len`` is accepted for the shared contract; the
    recurrence has no length limit."""

    state_grows_with_length = False  # h_t: fixed by hidden_size

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 64, hidden_size: int = 96,
                 n_layers: int = 2, mlp_ratio: int = 4, dropout: float = 0.0):
        super().__init__()
        for key, value in [("model.d_model", d_model), ("model.hidden_size", hidden_size),
                           ("model.n_layers", n_layers), ("model.mlp_ratio", mlp_ratio), ("vocab_size", vocab_size),
                           ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        require_dropout("model.dropout", dropout)
        self.hidden_size, self.n_layers = hidden_size, n_layers
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.Sequential(*(Block(d_model, hidden_size, mlp_ratio, dropout) for _ in range(n_layers)))
        self.norm_final = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm_final(self.blocks(self.embed(tokens))))  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: h_t, hidden_size per layer."""
        return self.n_layers * self.hidden_size
