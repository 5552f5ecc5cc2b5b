"""A causal Transformer whose self-attention is written out as the seed note describes it.

Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V  (Vaswani et al., 2017, "Attention Is All You Need").

Two paths compute the same function:
- ``fused``: torch's scaled_dot_product_attention, the fast kernel used for training;
- ``explicit``: the six steps of the seed note, one line each, keeping the weights
  so they can be drawn. A test holds the two paths equal to 1e-5.

``window=w`` lets each query see only itself and the w - 1 keys before it:
sliding-window attention, a control whose context window is known exactly.

Positions: ``rope`` rotates q and k, ``alibi`` adds a per-head linear penalty on distance to the scores,
``sinusoidal`` and ``learned`` add codes to the embeddings, ``none`` leaves order to the causal mask alone.
Only ``learned`` has a length limit (its table holds max_len rows, the training length); the others take any
length, so a model trained at one length can be evaluated at another.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.base import LengthError, ModelConfigError, require_dropout, require_positive

POSITIONAL = ("sinusoidal", "learned", "rope", "alibi", "none")
PATHS = ("fused", "explicit")


def sinusoidal_table(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sin/cos position codes of the original Transformer (Vaswani et al., 2017, §3.5)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class Rotary(nn.Module):
    """Rotary position embedding (Su et al., 2021, "RoFormer"): rotate q and k by position-dependent angles,
    so that q·k depends on the relative offset of the two positions."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ModelConfigError(f"model.positional=rope needs an even head size (d_model / n_heads), got {head_dim}")
        self.register_buffer("inv_freq", base ** (-torch.arange(0, head_dim, 2).float() / head_dim), persistent=False)
        self._cache: dict = {}

    def tables(self, length: int, device: torch.device, dtype: torch.dtype):
        key = (length, device, dtype)
        if key not in self._cache:  # built once per length, not per step
            with torch.inference_mode(False):  # made during evaluation, still usable in training
                angles = torch.outer(torch.arange(length, device=device).float(), self.inv_freq.to(device))  # (L, hd/2)
                self._cache[key] = (angles.cos().to(dtype), angles.sin().to(dtype))
        return self._cache[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, H, L, hd)
        cos, sin = self.tables(x.shape[-2], x.device, x.dtype)
        first, second = x.chunk(2, dim=-1)
        return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes (Press, Smith & Lewis 2022, "Train Short, Test Long", §3): the geometric sequence
    2^(-8/n), 2^(-16/n), ... for n heads a power of two; otherwise those of the next lower power of two, then
    every other slope of the next higher one."""
    def geometric(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    lower = 2 ** math.floor(math.log2(n_heads))
    slopes = geometric(lower) + geometric(2 * lower)[0::2][:n_heads - lower]
    return torch.tensor(slopes)


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, window: int | None, rope: bool, path: str, alibi: bool = False):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, d_model // n_heads
        self.window, self.path = window, path
        self.register_buffer("slopes", alibi_slopes(n_heads) if alibi else None, persistent=False)
        self.w_qkv = nn.Linear(d_model, 3 * d_model)  # W_Q, W_K, W_V side by side
        self.w_out = nn.Linear(d_model, d_model)  # mixes the heads back together
        self.rotary = Rotary(self.head_dim) if rope else None
        self._mask_cache: dict = {}

    def allowed(self, length: int, device: torch.device) -> torch.Tensor:
        """(L, L) bool, True where query i may look at key j: j <= i, and i - j < window if windowed."""
        key = (length, device)
        if key not in self._mask_cache:  # built once per length, not per step
            with torch.inference_mode(False):  # made during evaluation, still usable in training
                i = torch.arange(length, device=device)[:, None]
                j = torch.arange(length, device=device)[None, :]
                mask = j <= i
                if self.window is not None:
                    mask &= (i - j) < self.window
                self._mask_cache[key] = mask
        return self._mask_cache[key]

    def bias(self, length: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(H, L, L) additive scores: -slope_h * (i - j) where query i may see key j, -inf elsewhere (ALiBi)."""
        key = (length, device, dtype, "alibi")
        if key not in self._mask_cache:
            with torch.inference_mode(False):
                i = torch.arange(length, device=device)[:, None]
                j = torch.arange(length, device=device)[None, :]
                penalty = -self.slopes.to(device)[:, None, None] * (i - j).clamp(min=0)
                self._mask_cache[key] = penalty.masked_fill(~self.allowed(length, device), float("-inf")).to(dtype)
        return self._mask_cache[key]

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        B, L, D = x.shape
        # 1) multiply each input vector by W_Q, W_K and W_V
        q, k, v = self.w_qkv(x).split(D, dim=2)
        q, k, v = (t.view(B, L, self.n_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, L, hd)
        if self.rotary is not None:
            q, k = self.rotary(q), self.rotary(k)

        if self.path == "fused" and not return_weights:
            if self.slopes is not None:
                mask = self.bias(L, x.device, q.dtype)
            else:
                mask = None if self.window is None else self.allowed(L, x.device)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
            weights = None
        else:
            # 2) dot product of every query with every key
            scores = q @ k.transpose(-2, -1)  # (B, H, L, L)
            # 3) divide by √d_k, so the softmax does not saturate and its gradients do not vanish
            scores = scores / math.sqrt(self.head_dim)
            if self.slopes is not None:  # ALiBi: a linear penalty on distance, and the causal mask, in one bias
                scores = scores + self.bias(L, x.device, scores.dtype)
            else:
                scores = scores.masked_fill(~self.allowed(L, x.device), float("-inf"))  # causal (and window) mask
            # 4) softmax over the keys
            weights = scores.softmax(dim=-1)  # (B, H, L, L), each row sums to 1
            # 5) weight each value vector by its softmax score, and 6) sum them: one matmul does both
            out = weights @ v  # (B, H, L, hd)

        out = out.transpose(1, 2).reshape(B, L, D)  # concatenate the heads
        return self.w_out(out), weights


def add_positions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """x (B, L, D) plus the model's learned or sinusoidal position codes; a learned table past its length is a
    LengthError, the one length a model cannot take."""
    L = x.shape[1]
    if model.positional == "learned":
        if L > model.max_len:
            raise LengthError(f"sequence length {L} exceeds the {model.max_len} positions this model learned "
                              "(model.positional=learned has one embedding per training position)")
        return x + model.position_embed(torch.arange(L, device=x.device))
    if model.positional == "sinusoidal":
        table = model.position_table
        return x + (table[:L] if L <= len(table) else sinusoidal_table(L, x.shape[-1]).to(x.device, x.dtype))
    return x


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model, n_heads, mlp_ratio, window, rope, path, dropout, alibi=False):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, n_heads, window, rope, path, alibi)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, return_weights=False):
        attended, weights = self.attention(self.norm_attention(x), return_weights)
        x = x + self.dropout(attended)
        x = x + self.mlp(self.norm_mlp(x))
        return x, weights


class AttentionModel(nn.Module):
    """Tokens (B, L) in, logits (B, L, C) out, causal.

    ``vocab_size``, ``num_classes`` and ``max_len`` come from the task; the rest from conf/model/*.yaml.
    """

    supports_bf16_autocast = True  # harness.train enables bf16 autocast on CUDA for models that declare it
    state_grows_with_length = True  # the key-value cache; set per instance, since a window caps it

    def __init__(self, vocab_size: int, num_classes: int, max_len: int, d_model: int = 64, n_layers: int = 2,
                 n_heads: int = 4, mlp_ratio: int = 4, positional: str = "rope", window: int | None = None,
                 dropout: float = 0.0, path: str = "fused"):
        super().__init__()
        for key, value in [("model.d_model", d_model), ("model.n_layers", n_layers), ("model.n_heads", n_heads),
                           ("model.mlp_ratio", mlp_ratio), ("vocab_size", vocab_size),
                           ("num_classes", num_classes), ("max_len", max_len)]:
            require_positive(key, value)
        if d_model % n_heads:
            raise ModelConfigError(f"model.n_heads={n_heads}: must divide model.d_model={d_model}")
        if positional not in POSITIONAL:
            raise ModelConfigError(f"model.positional={positional!r}: allowed are {', '.join(POSITIONAL)}")
        if path not in PATHS:
            raise ModelConfigError(f"model.path={path!r}: allowed are {', '.join(PATHS)}")
        if window is not None:
            require_positive("model.window", window)
        require_dropout("model.dropout", dropout)

        self.max_len, self.positional = max_len, positional
        self.d_model, self.n_layers, self.window = d_model, n_layers, window
        self.state_grows_with_length = window is None  # with a window the cache holds its last positions only
        self.embed = nn.Embedding(vocab_size, d_model)
        if positional == "learned":
            self.position_embed = nn.Embedding(max_len, d_model)
        if positional == "sinusoidal":  # made for the training length; longer inputs compute their own
            self.register_buffer("position_table", sinusoidal_table(max_len, d_model), persistent=False)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, mlp_ratio, window, positional == "rope", path, dropout,
                                          positional == "alibi") for _ in range(n_layers))
        self.norm_final = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, tokens: torch.Tensor, return_attention: bool = False):
        """tokens (B, L) -> logits (B, L, C); with ``return_attention``, also each layer's (B, H, L, L) weights
        from the explicit path."""
        x = add_positions(self, self.embed(tokens))  # (B, L, D)
        attention_maps = []
        for block in self.blocks:
            x, weights = block(x, return_attention)
            attention_maps.append(weights)
        logits = self.head(self.norm_final(x))  # (B, L, C)
        return (logits, attention_maps) if return_attention else logits

    def state_size(self, seq_len: int) -> int:
        """Numbers carried from one step to the next at inference: the key-value cache, 2 * L * d_model per layer,
        growing with the sequence; with a window, capped at the window's last positions."""
        kept = seq_len if self.window is None else min(seq_len, self.window)
        return 2 * kept * self.d_model * self.n_layers
