"""Mamba: a selective state-space model, whose state update depends on the input.

Gu & Dao (2023), "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (arXiv:2312.00752),
Algorithm 2 and figure 3. Per channel e of the inner width E and state index n < N:

    h_t[e, n] = exp(Δ_t[e] A[e, n]) h_{t-1}[e, n] + Δ_t[e] B_t[n] u_t[e],   y_t[e] = Σ_n C_t[n] h_t[e, n] + D[e] u_t[e]

A = -exp(A_log) is fixed per (e, n) (S4D-real initialisation A[e, n] = -(n + 1)), while Δ_t = softplus(W_Δ (W_r u_t)
+ b_Δ) (a low-rank projection), B_t and C_t are projections of the input u_t: the selection mechanism. The
discretisation is zero-order hold for A (Ā = exp(ΔA)) and Euler for B (B̄ u = Δ B u), as in the paper's code.

The block (figure 3): the input is projected to two branches of width E; one goes through a short causal
depthwise conv1d and SiLU, then the selective scan, the other through SiLU and gates the scan's output; a
projection brings it back to d_model. Blocks are pre-norm residual: x + Mamba(norm(x)).

The scan runs in chunks of CHUNK steps with the (B, E, N) state carried from one chunk to the next. The
(B, L, E, N) tensor of all states would cost B * L * E * N numbers (1 GiB for one layer at batch 32, length
4096, E = 128, N = 16); per chunk only (B, CHUNK, E, N) exists, and it is contracted with C_t at once to the
(B, CHUNK, E) output. Within a chunk the states come from a log-depth scan (``scan_chunk``), so no Python loop
runs over single steps. Autograd still keeps each chunk's intermediates for the backward pass.

Cost on CPU: every state entry has its own input-dependent decay, so the scan is elementwise work on
B * L * E * N numbers, not matmuls (one layer at E = 128, N = 8, batch 32, L = 136: 104 ms forward and
backward on one CPU thread, against 35 ms for the whole LSTM step); that is why the
default d_state is 4, not the paper's 16 (see NOTES-models.md for the measured step times).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.base import require_dropout, require_positive

CHUNK = 8  # steps per chunk: log2(8) = 3 scan steps; measured fastest of 8, 16, 32 on CPU


def scan_chunk(decay: torch.Tensor, drive: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = decay_t * h_{t-1} + drive_t for the T steps of one chunk; (T, B, E, N) time-major, h0 (B, E, N).

    A Hillis-Steele scan (Hillis & Steele 1986): after the step of size k, position t holds the recurrence
    over steps t-2k+1..t, so log2(T) steps of whole-tensor products and sums cover the chunk. Only products
    of decays in (0, 1] and sums occur, so it is stable at any Δ, unlike a division by cumulative decays,
    which overflows float32 once Δ |A| sums past 88 within a chunk."""
    drive = torch.cat([drive[:1] + decay[:1] * h0, drive[1:]])  # the carried state enters at the first step
    k = 1
    while k < drive.shape[0]:
        drive = torch.cat([drive[:k], torch.addcmul(drive[k:], decay[k:], drive[:-k])])
        if 2 * k < drive.shape[0]:
            decay = torch.cat([decay[:k], decay[k:] * decay[:-k]])  # decay over steps t-2k+1..t
        k *= 2
    return drive


def selective_scan(u, delta, A, B, C, chunk: int = CHUNK):
    """y_t[e] = Σ_n C_t[n] h_t[e, n] for all t; u, delta (L, B, E), A (E, N), B, C (L, B, N), time-major
    -> y (L, B, E)."""
    h = u.new_zeros(u.shape[1], A.shape[0], A.shape[1])  # (B, E, N): the state carried across chunks
    outputs = []
    for u_c, delta_c, B_c, C_c in zip(*(t.split(chunk) for t in (u, delta, B, C))):
        decay = torch.exp(delta_c.unsqueeze(-1) * A)  # (T, B, E, N): Ā = exp(Δ A)
        drive = (delta_c * u_c).unsqueeze(-1) * B_c.unsqueeze(2)  # (T, B, E, N): B̄ u = Δ B u
        states = scan_chunk(decay, drive, h)  # (T, B, E, N), only this chunk's
        outputs.append((states @ C_c.unsqueeze(-1)).squeeze(-1))  # (T, B, E): Σ_n C_t[n] h_t[e, n]
        h = states[-1]
    return torch.cat(outputs)


class Mamba(nn.Module):
    """One Mamba block's mixer: (B, L, D) -> (B, L, D)."""

    def __init__(self, d_model: int, d_inner: int, d_state: int, d_conv: int, dt_rank: int,
                 dt_min: float = 1e-3, dt_max: float = 0.1):
        super().__init__()
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, dt_rank
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)  # scan branch u and gate branch z
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)  # depthwise
        self.x_proj = nn.Linear(d_inner, dt_rank + 2 * d_state, bias=False)  # low-rank Δ, B_t, C_t
        self.dt_proj = nn.Linear(dt_rank, d_inner)
        # Δ starts log-uniform in [dt_min, dt_max]: the bias is softplus⁻¹ of it (the paper's initialisation)
        dt = torch.exp(torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -dt_rank ** -0.5, dt_rank ** -0.5)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(d_inner, 1))  # S4D-real
        self.D = nn.Parameter(torch.ones(d_inner))
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        u, z = self.in_proj(x).chunk(2, dim=-1)  # (B, L, E) each
        u = F.silu(self.conv(u.transpose(1, 2))[..., :L].transpose(1, 2))  # causal: padding on the left only
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (B, L, E), > 0
        u_t, delta_t, B_t, C_t = (t.transpose(0, 1) for t in (u, delta, B, C))  # (L, B, ·): time-major
        y = selective_scan(u_t, delta_t, -torch.exp(self.A_log), B_t, C_t).transpose(0, 1)
        y = y + self.D * u  # (B, L, E)
        return self.out_proj(y * F.silu(z))  # (B, L, D)


class Block(nn.Module):
    """Pre-norm residual block: x + Mamba(norm(x))."""

    def __init__(self, d_model, d_inner, d_state, d_conv, dt_rank, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, d_inner, d_state, d_conv, dt_rank)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.dropout(self.mixer(self.norm(x)))


class MambaModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out, causal. ``max_len`` is accepted for the shared contract; the
    recurrence has no length limit."""

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 72, n_layers: int = 3,
                 expand: int = 2, d_state: int = 4, d_conv: int = 4, dt_rank: int | None = None,
                 dropout: float = 0.0):
        super().__init__()
        dt_rank = math.ceil(d_model / 16) if dt_rank is None else dt_rank  # the paper's default rank
        for key, value in [("model.d_model", d_model), ("model.n_layers", n_layers), ("model.expand", expand),
                           ("model.d_state", d_state), ("model.d_conv", d_conv), ("model.dt_rank", dt_rank),
                           ("vocab_size", vocab_size), ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        require_dropout("model.dropout", dropout)
        self.n_layers, self.d_inner, self.d_state, self.d_conv = n_layers, expand * d_model, d_state, d_conv
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.Sequential(*(Block(d_model, expand * d_model, d_state, d_conv, dt_rank, dropout)
                                      for _ in range(n_layers)))
        self.norm_final = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm_final(self.blocks(self.embed(tokens))))  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference, per layer: the SSM state h (d_inner x d_state)
        and the conv buffer, the last d_conv - 1 inputs of the conv1d ((d_conv - 1) x d_inner)."""
        return self.n_layers * (self.d_inner * self.d_state + (self.d_conv - 1) * self.d_inner)
