"""What every model shares: the contract, and loud checks of its settings.

The contract: ``Model(vocab_size, num_classes, max_len, **settings)``, where the
first three come from the task and the settings from conf/model/*.yaml; then
``model(tokens)`` maps tokens (B, L) to logits (B, L, C), and the output at
position t depends on tokens 0..t only.

Every model also states its memory: ``model.state_size(seq_len)`` is how many numbers it carries from one
step to the next at inference, after reading ``seq_len`` tokens, summed over layers (a recurrent state is
fixed; attention's key-value cache grows with seq_len). Complex entries count as two real numbers.
"""

from __future__ import annotations


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
