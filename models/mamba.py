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

The scan (``LinearScan``) is one fused multiply-add per time step on the (B, E, N) state, with a hand-written
backward: every state entry has its own input-dependent decay, so the recurrence is elementwise work on
B * L * E * N numbers and cannot become a matmul. It keeps all (L, B, E, N) states for the backward pass,
B * L * E * N numbers per layer (about 10 MB at batch 32, L = 136, E = 144, N = 16), which is what the
paper's CUDA kernel avoids by recomputing them; at the lengths measured here that is affordable on a CPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.base import require_dropout, require_positive

CHUNK = 16  # steps whose decays, drives and gradients are computed at once (small enough to stay in cache)


class SelectiveScan(torch.autograd.Function):
    """y_t[e] = Σ_n C_t[n] h_t[e, n], h_t = exp(Δ_t[e] A[e, n]) h_{t-1}[e, n] + Δ_t[e] u_t[e] B_t[n], h_{-1} = 0.

    Inputs are time-major: u, delta (L, B, E), A (E, N), B, C (L, B, N). Only the recurrence itself runs step
    by step (one fused multiply-add per step, forward and backward); everything else is computed for CHUNK
    steps at a time, on tensors that stay in cache. The backward is the exact gradient by the reverse
    recurrence g_t = C_t dy_t + Ā_{t+1} g_{t+1} (g_t = dL/dh_t), from which
        dB_t = Σ_e g_t Δ_t u_t,  d(Δu)_t = Σ_n g_t B_t,  dC_t = Σ_e dy_t h_t,  d(Δ_t A) = g_t Ā_t h_{t-1},
        dΔ_t = u_t d(Δu)_t + Σ_n d(Δ_t A) A,  du_t = Δ_t d(Δu)_t,  dA = Σ_t Σ_b d(Δ_t A) Δ_t.
    Written by hand because autograd over a per-step loop records a graph node per operation and step, and a
    log-depth parallel scan or whole-sequence (L, B, E, N) temporaries cost several times more on a CPU (the
    model's training step took 335 ms with those, against 36 ms for the LSTM's, and ~250 ms with this). Only
    products of decays in (0, 1] and sums occur: stable at any Δ."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C):
        L, batch, E = u.shape
        states = u.new_empty(L, batch, E, A.shape[1])  # (L, B, E, N), kept for the backward pass
        h = u.new_zeros(batch, E, A.shape[1])
        for start in range(0, L, CHUNK):
            span = slice(start, start + CHUNK)
            decay = torch.exp(delta[span].unsqueeze(-1) * A)  # (T, B, E, N): Ā_t
            drive = (delta[span] * u[span]).unsqueeze(-1) * B[span].unsqueeze(2)  # (T, B, E, N): Δ_t u_t B_t
            for t in range(decay.shape[0]):
                h = torch.addcmul(drive[t], decay[t], h, out=states[start + t])
        ctx.save_for_backward(u, delta, A, B, C, states)
        return (states @ C.unsqueeze(-1)).squeeze(-1)  # (L, B, E)

    @staticmethod
    def backward(ctx, grad_y):
        u, delta, A, B, C, states = ctx.saved_tensors
        L = u.shape[0]
        grad_u, grad_delta = torch.empty_like(u), torch.empty_like(delta)
        grad_A = torch.zeros_like(A)
        grad_C = (states * grad_y.unsqueeze(-1)).sum(2)  # (L, B, N)
        grad_B = torch.empty_like(B)
        g, later_decay = torch.zeros_like(states[0]), torch.zeros_like(states[0])  # beyond the last step: 0
        for start in reversed(range(0, L, CHUNK)):
            span = slice(start, start + CHUNK)
            decay = torch.exp(delta[span].unsqueeze(-1) * A)  # (T, B, E, N), recomputed rather than stored
            grads = grad_y[span].unsqueeze(-1) * C[span].unsqueeze(2)  # (T, B, E, N): C_t dy_t, then dL/dh_t
            for t in range(decay.shape[0] - 1, -1, -1):
                g = torch.addcmul(grads[t], later_decay, g, out=grads[t])
                later_decay = decay[t]
            previous = states[start - 1:start - 1 + decay.shape[0]] if start else \
                torch.cat([torch.zeros_like(states[:1]), states[:decay.shape[0] - 1]])  # h_{t-1}
            scale = delta[span] * u[span]  # (T, B, E)
            grad_B[span] = (grads * scale.unsqueeze(-1)).sum(2)
            grad_scale = (grads @ B[span].unsqueeze(-1)).squeeze(-1)  # (T, B, E): dL/d(Δ_t u_t)
            grad_log_decay = grads * decay * previous  # (T, B, E, N): dL/d(Δ_t A)
            grad_delta[span] = grad_scale * u[span] + (grad_log_decay * A).sum(-1)
            grad_u[span] = grad_scale * delta[span]
            grad_A += (grad_log_decay * delta[span].unsqueeze(-1)).sum((0, 1))
        return grad_u, grad_delta, grad_A, grad_B, grad_C


def selective_scan(u, delta, A, B, C):
    """y_t[e] = Σ_n C_t[n] h_t[e, n] for all t; u, delta (L, B, E), A (E, N), B, C (L, B, N), time-major
    -> y (L, B, E)."""
    return SelectiveScan.apply(*(t.contiguous() for t in (u, delta, A, B, C)))


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

    state_grows_with_length = False  # h and the conv buffer: fixed by the sizes

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
