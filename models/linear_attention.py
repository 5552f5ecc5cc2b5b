"""Causal linear attention: softmax replaced by a positive feature map, so attention becomes a recurrence.

Katharopoulos et al. (2020), "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
(arXiv:2006.16236), eq. 16-20, with φ(x) = elu(x) + 1:

    S_t = S_{t-1} + φ(k_t) v_tᵀ,   z_t = z_{t-1} + φ(k_t),   y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε)

Each head carries S_t (d_k x d_v) and z_t (d_k): a fixed-size state, however long the context. ``chunked_linear``
computes the recurrence in chunks of CHUNK steps: within a chunk, the causally masked (φq φkᵀ) v of a small
attention matrix; across chunks, the state S and z at each chunk's start, an exclusive cumulative sum of the
chunks' φkᵀv. No (L, L) matrix and no per-step (d_k, d_v) state is ever stored, and no Python loop runs over time.

Blocks are the attention model's: pre-norm, x + attention(norm(x)), then x + MLP(norm(x)).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.attention import add_positions, sinusoidal_table
from models.base import ModelConfigError, require_dropout, require_positive

CHUNK = 32  # steps per chunk: the intra-chunk (T, T) products are small matmuls, the chunk count stays low
EPS = 1e-6  # ε in the denominator, as in the paper's code
POSITIONAL = ("sinusoidal", "learned", "none")


def feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0  # φ(x) > 0, so the normaliser φ(q)ᵀ z is positive


def chunked_linear(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε) for all t; q, k, v (B, H, L, d) -> (B, H, L, d_v)."""
    B, H, L, _ = q.shape
    pad = -L % chunk  # padded steps sit after every real one, so causality keeps them out
    fq, fk = feature_map(q), feature_map(k)
    fq, fk, v = (F.pad(t, (0, 0, 0, pad)).unflatten(2, (-1, chunk)) for t in (fq, fk, v))  # (B, H, n, T, d)
    # 1) within each chunk: causally masked similarities, as in softmax attention but without the softmax
    causal = torch.ones(chunk, chunk, dtype=torch.bool, device=q.device).tril()
    scores = (fq @ fk.transpose(-2, -1)).masked_fill(~causal, 0.0)  # (B, H, n, T, T)
    numerator = scores @ v  # (B, H, n, T, d_v)
    denominator = scores.sum(-1)  # (B, H, n, T)
    # 2) the state at each chunk's start: S and z summed over every earlier chunk (exclusive cumulative sum)
    state = F.pad((fk.transpose(-2, -1) @ v).cumsum(2)[:, :, :-1], (0, 0, 0, 0, 1, 0))  # (B, H, n, d_k, d_v)
    normaliser = F.pad(fk.sum(3).cumsum(2)[:, :, :-1], (0, 0, 1, 0))  # (B, H, n, d_k)
    # 3) add what the earlier chunks contribute, and divide
    numerator = numerator + fq @ state  # (B, H, n, T, d_v)
    denominator = denominator + (fq @ normaliser.unsqueeze(-1)).squeeze(-1)  # (B, H, n, T)
    y = numerator / (denominator.unsqueeze(-1) + EPS)
    return y.flatten(2, 3)[:, :, :L]  # (B, H, L, d_v)


class CausalLinearAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.w_qkv = nn.Linear(d_model, 3 * d_model)  # W_Q, W_K, W_V side by side
        self.w_out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = self.w_qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, L, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, L, hd)
        out = chunked_linear(q, k, v).transpose(1, 2).reshape(B, L, D)  # concatenate the heads
        return self.w_out(out)


class Block(nn.Module):
    """Pre-norm block: x + linear attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model, n_heads, mlp_ratio, dropout):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = CausalLinearAttention(d_model, n_heads)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.dropout(self.attention(self.norm_attention(x)))
        return x + self.mlp(self.norm_mlp(x))


class LinearAttentionModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out, causal. Without softmax nothing in a head depends on order, so
    positions enter as in the original Transformer (``sinusoidal``, default) or as ``learned`` embeddings."""

    state_grows_with_length = False  # S and z per head: fixed by the head size

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 64, n_layers: int = 2,
                 n_heads: int = 4, mlp_ratio: int = 4, positional: str = "sinusoidal", dropout: float = 0.0):
        super().__init__()
        for key, value in [("model.d_model", d_model), ("model.n_layers", n_layers), ("model.n_heads", n_heads),
                           ("model.mlp_ratio", mlp_ratio), ("vocab_size", vocab_size),
                           ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        if d_model % n_heads:
            raise ModelConfigError(f"model.n_heads={n_heads}: must divide model.d_model={d_model}")
        if positional not in POSITIONAL:
            raise ModelConfigError(f"model.positional={positional!r}: allowed are {', '.join(POSITIONAL)}")
        require_dropout("model.dropout", dropout)
        self.max_len, self.positional = max_len, positional
        self.n_layers, self.n_heads, self.head_dim = n_layers, n_heads, d_model // n_heads
        self.embed = nn.Embedding(vocab_size, d_model)
        if positional == "learned":
            self.position_embed = nn.Embedding(max_len, d_model)
        if positional == "sinusoidal":  # made for the training length; longer inputs compute their own
            self.register_buffer("position_table", sinusoidal_table(max_len, d_model), persistent=False)
        self.blocks = nn.Sequential(*(Block(d_model, n_heads, mlp_ratio, dropout) for _ in range(n_layers)))
        self.norm_final = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = add_positions(self, self.embed(tokens))  # (B, L, D)
        return self.head(self.norm_final(self.blocks(x)))  # (B, L, C)

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: per head S (d_k x d_v) and the normaliser z
        (d_k), per layer; independent of the sequence length."""
        return self.n_layers * self.n_heads * (self.head_dim * self.head_dim + self.head_dim)
