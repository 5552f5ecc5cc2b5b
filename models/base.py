"""The model contract: what every model provides, what it may provide, and the loud checks of its settings.

A model is one file in models/ and one YAML in conf/model/ whose ``_target_`` names its class; there is no
registry (docs/adding-a-model.md walks through one). tests/test_model_contract.py checks the required part
for every YAML in conf/model, so a new model is tested the moment its YAML exists.

Required:

- ``Model(vocab_size, num_classes, max_len, **settings)``, an ``nn.Module``. The first three come from the
  task; the settings are explicit keyword arguments with defaults, and the YAML's keys are exactly these
  (harness.config refuses any other key, so a typo cannot be silently ignored). A setting that cannot work
  raises ModelConfigError naming the key, its value and what is allowed (``require_positive``, ...).
- ``model(tokens)``: tokens (B, L) long -> logits (B, L, C), float32 outside autocast, for every L up to max_len.
- Causal: the output at position t depends on tokens 0..t only. Tokens enter through an ``nn.Embedding`` (the
  first one in ``model.modules()``): the causality test reads its gradients there.
- ``state_size(seq_len) -> int``: how many numbers the model carries from one step to the next at inference,
  after reading ``seq_len`` tokens, summed over layers; complex entries count as two real numbers. Every run
  records it next to its window.
- ``state_grows_with_length: bool``: whether that state has no bound as ``seq_len`` grows. Attention's
  key-value cache: True. A recurrent state (RNN, GRU, LSTM, minGRU, LRU, Mamba) and linear attention's S and
  z: False. Sliding-window attention: False, since its cache holds the last ``window`` positions at most (it
  grows only up to the window). It is a class attribute; a class whose settings decide it sets it per
  instance (AttentionModel: ``window is None``), so read it from a built model. Why it matters: the
  capacity analysis fits the window against the state size only where the state is a fixed capacity, not a
  copy of the sequence.

Optional, each with the default that holds when a model does not say:

- ``supports_bf16_autocast`` (default False): True lets harness.train run the model under bf16 autocast on
  CUDA when ``train.bf16`` is on; a model that does not declare it trains in fp32 everywhere. Only
  AttentionModel declares it.
- ``forward(tokens, return_attention=True)`` (default: forward has no such parameter): returns
  ``(logits, maps)``, maps holding one (B, H, L, L) tensor of attention weights per layer. analysis.attention
  draws a run only when its class's forward has this parameter. Only AttentionModel has it.

Nothing else is asked of a model. Its FLOPs are counted from its forward pass by torch's FlopCounterMode
(benchmarks/models.py), with no entry to write; its parameters come from ``model.parameters()``.
"""

from __future__ import annotations


class LengthError(ValueError):
    """An input longer than the model can take at all (learned positions past their table): the harness records
    it as ``cannot``, never as a crash or a zero."""


class ModelConfigError(ValueError):
    """A model setting that cannot work; the message names the setting, its value and what is allowed."""


def require_positive(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelConfigError(f"{key}={value!r}: must be a positive integer")
    return value


def require_dropout(key: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ModelConfigError(f"{key}={value!r}: must be a number in [0, 1)")
    return float(value)
