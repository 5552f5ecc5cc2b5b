"""Linear Recurrent Unit: a diagonal complex linear recurrence, stably parametrised and normalised.

Orvieto et al. (2023), "Resurrecting Recurrent Neural Networks for Long Sequences" (arXiv:2303.06349), §3:

    x_k = diag(λ) x_{k-1} + γ ⊙ (B u_k),   y_k = Re(C x_k) + D ⊙ u_k,
    λ = exp(-exp(ν) + i exp(θ)),   γ = sqrt(1 - |λ|²)

with x_k ∈ ℂ^N, u_k, y_k ∈ ℝ^H. |λ| = exp(-exp(ν)) < 1 for every ν (stable by construction), and at
initialisation λ is uniform on the ring r_min <= |λ| <= r_max with phase in [0, max_phase]. Here γ is
computed from λ rather than trained (the paper initialises a trainable γ to this value).

The recurrence is a chunked scan (``lru_scan``): within a chunk of T steps, x_t = λ^t (x_0 + Σ_{s<=t} λ^-s v_s),
one cumulative sum in complex128 for every chunk at once; the state is carried across chunks by a loop over
chunks (not steps). λ^-s grows like |λ|^-T, which float64 holds for T = 32 once -log|λ| is clamped at 20 (a
no-op in float32). A Toeplitz matmul per state (x = K v, K[t, s] = λ^(t-s)) was tried first: its batched
matmuls over strided operands made the step 2x slower on CPU.

Blocks: x + GLU(GELU(LRU(norm(x)))), as in the paper's figure 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.base import ModelConfigError, require_dropout, require_positive

CHUNK = 32  # steps per chunk: |λ|^-CHUNK stays within float64's range (see lru_scan)
MAX_STEP_DECAY = 20.0  # -log|λ| is clamped at 20 inside the scan: |λ| < exp(-20) = 2e-9 is zero to float32


def lru_scan(log_lambda: torch.Tensor, v: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """x_k = λ x_{k-1} + v_k, x_{-1} = 0, for all k; log_lambda (N,) complex, v (B, L, N) complex -> x (B, L, N).

    Within a chunk, x_t = λ^t (x_0 + Σ_{s<=t} λ^-s v_s) for t = 1..T: a cumulative sum, for every chunk at once;
    then each chunk's entering state is carried in (a loop over chunks, not steps). |λ^-s| <= exp(32 * 20) fits
    float64 (exp(709) at most), so the scan runs in complex128 and returns v's dtype."""
    (B, L, N), dtype = v.shape, v.dtype
    log_lambda = torch.complex(log_lambda.real.clamp(min=-MAX_STEP_DECAY), log_lambda.imag).to(torch.complex128)
    steps = torch.arange(1, chunk + 1, device=v.device, dtype=torch.float64)[:, None]  # (T, 1): t = 1..T
    decay, growth = torch.exp(steps * log_lambda), torch.exp(-steps * log_lambda)  # λ^t, λ^-t: (T, N)
    v = F.pad(v.to(torch.complex128), (0, 0, 0, -L % chunk)).unflatten(1, (-1, chunk))  # (B, n, T, N)
    local = decay * (growth * v).cumsum(2)  # (B, n, T, N): each chunk from a zero start
    entering, states = v.new_zeros(B, 1, N), []  # entering: the state before the chunk's first step
    for chunk_states in local.unbind(1):  # unbind, not local[:, c]: its backward is one stack, not n copies
        states.append(chunk_states + decay * entering)  # (B, T, N)
        entering = states[-1][:, -1:]
    return torch.cat(states, dim=1)[:, :L].to(dtype)


class LRU(nn.Module):
    """One Linear Recurrent Unit: (B, L, H) -> (B, L, H)."""

    def __init__(self, d_model: int, d_state: int, r_min: float, r_max: float, max_phase: float):
        super().__init__()
        modulus = torch.sqrt(torch.rand(d_state) * (r_max ** 2 - r_min ** 2) + r_min ** 2)  # uniform on the ring
        self.nu_log = nn.Parameter(torch.log(-torch.log(modulus)))  # |λ| = exp(-exp(ν))
        self.theta_log = nn.Parameter(torch.log(max_phase * torch.rand(d_state).clamp(min=1e-4)))  # arg λ = exp(θ)
        self.B = nn.Parameter(torch.randn(2, d_state, d_model) / math.sqrt(2 * d_model))  # real, imaginary
        self.C = nn.Parameter(torch.randn(2, d_model, d_state) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        log_modulus, phase = -torch.exp(self.nu_log), torch.exp(self.theta_log)  # log λ = log_modulus + i phase
        gamma = torch.sqrt(-torch.expm1(2 * log_modulus))  # sqrt(1 - |λ|²), exact near |λ| = 1: (N,)
        v = torch.complex(gamma * (u @ self.B[0].T), gamma * (u @ self.B[1].T))  # γ ⊙ B u: (B, L, N)
        x = lru_scan(torch.complex(log_modulus, phase), v)  # (B, L, N)
        return x.real @ self.C[0].T - x.imag @ self.C[1].T + self.D * u  # Re(C x) + D ⊙ u: (B, L, H)


class Block(nn.Module):
    """Pre-norm residual block: x + GLU(GELU(LRU(norm(x))))."""

    def __init__(self, d_model, d_state, r_min, r_max, max_phase, dropout):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.lru = LRU(d_model, d_state, r_min, r_max, max_phase)
        self.glu = nn.Linear(d_model, 2 * d_model)  # value and gate side by side
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.dropout(F.glu(self.glu(F.gelu(self.lru(self.norm(x)))), dim=-1))


class LRUModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out, causal. ``max_len`` is accepted for the shared contract; the
    recurrence has no length limit."""

    state_grows_with_length = False  # x_k: fixed by d_state

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 80, d_state: int = 64,
                 n_layers: int = 3, r_min: float = 0.9, r_max: float = 0.999, max_phase: float = 6.283,
                 dropout: float = 0.0):
        super().__init__()
        for key, value in [("model.d_model", d_model), ("model.d_state", d_state), ("model.n_layers", n_layers),
                           ("vocab_size", vocab_size), ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        if not 0.0 <= r_min < r_max < 1.0:
            raise ModelConfigError(f"model.r_min={r_min!r}, model.r_max={r_max!r}: need 0 <= r_min < r_max < 1")
        if not 0.0 < max_phase <= 2 * math.pi + 1e-3:
            raise ModelConfigError(f"model.max_phase={max_phase!r}: must lie in (0, 2π]")
        require_dropout("model.dropout", dropout)
        self.d_state, self.n_layers = d_state, n_layers
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.Sequential(*(Block(d_model, d_state, r_min, r_max, max_phase, dropout)
                                      for _ in range(n_layers)))
        self.norm_final = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm_final(self.blocks(self.embed(tokens))))  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: x_k ∈ ℂ^d_state per layer, each complex entry
        counted as 2 real numbers."""
        return self.n_layers * 2 * self.d_state
