"""The fused kernel and the explicit six-step path compute the same attention."""

from __future__ import annotations

import pytest
import torch

from models.attention import AttentionModel


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope", "alibi", "none"])
@pytest.mark.parametrize("window", [None, 5])
def test_fused_equals_explicit(positional, window):
    torch.manual_seed(0)
    fused = AttentionModel(20, 10, 64, positional=positional, window=window, path="fused").eval()
    explicit = AttentionModel(20, 10, 64, positional=positional, window=window, path="explicit").eval()
    explicit.load_state_dict(fused.state_dict())
    tokens = torch.randint(20, (4, 64))
    with torch.no_grad():
        out_fused = fused(tokens)
        out_explicit = explicit(tokens)
        out_inspected, maps = fused(tokens, return_attention=True)
    torch.testing.assert_close(out_fused, out_explicit, atol=1e-5, rtol=0)
    torch.testing.assert_close(out_fused, out_inspected, atol=1e-5, rtol=0)
    assert len(maps) == len(fused.blocks)


def test_attention_weights_are_causal_distributions():
    torch.manual_seed(0)
    model = AttentionModel(20, 10, 32, n_heads=4, window=6).eval()
    with torch.no_grad():
        _, maps = model(torch.randint(20, (2, 32)), return_attention=True)
    for weights in maps:
        assert weights.shape == (2, 4, 32, 32)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 32))
        assert torch.count_nonzero(torch.triu(weights, diagonal=1)) == 0, "a query attends to the future"
        assert torch.count_nonzero(torch.tril(weights, diagonal=-6)) == 0, "a query sees past its window"


def test_bad_settings_are_refused():
    from models.base import ModelConfigError
    for kwargs, key in [({"n_heads": 3}, "model.n_heads"), ({"positional": "xpos"}, "model.positional"),
                        ({"window": 0}, "model.window"), ({"d_model": 0}, "model.d_model"),
                        ({"path": "flash"}, "model.path"), ({"dropout": 1.5}, "model.dropout")]:
        with pytest.raises(ModelConfigError, match=key):
            AttentionModel(20, 10, 32, **kwargs)


def test_alibi_bias_matches_a_hand_written_loop():
    """Per head h, query i, key j: -slope_h * (i - j) for j <= i, -inf after; slopes 2^-1 .. 2^-8 for 8 heads
    (Press et al. 2022), and the non-power-of-two rule for 6 heads."""
    from models.attention import CausalSelfAttention, alibi_slopes

    assert alibi_slopes(8).tolist() == [2.0 ** -(h + 1) for h in range(8)]
    assert alibi_slopes(6).tolist() == [2.0 ** -2, 2.0 ** -4, 2.0 ** -6, 2.0 ** -8, 2.0 ** -1, 2.0 ** -3]
    layer = CausalSelfAttention(d_model=24, n_heads=6, window=None, rope=False, path="explicit", alibi=True)
    bias = layer.bias(7, torch.device("cpu"), torch.float32)
    slopes = alibi_slopes(6)
    for h in range(6):
        for i in range(7):
            for j in range(7):
                expected = -slopes[h].item() * (i - j) if j <= i else float("-inf")
                assert bias[h, i, j].item() == pytest.approx(expected)


@pytest.mark.parametrize("positional", ["sinusoidal", "rope", "alibi", "none"])
def test_a_model_takes_inputs_longer_than_its_training_length(positional):
    """max_len is the training length, not a limit, except for learned positions."""
    torch.manual_seed(0)
    model = AttentionModel(20, 10, 16, positional=positional).eval()
    with torch.no_grad():
        long = model(torch.randint(20, (2, 40)))
        short = model(torch.randint(20, (2, 16)))
    assert long.shape == (2, 40, 10) and short.shape == (2, 16, 10)


def test_learned_positions_past_their_table_raise_a_length_error():
    from models.base import LengthError

    model = AttentionModel(20, 10, 16, positional="learned").eval()
    with pytest.raises(LengthError, match="exceeds the 16 positions"), torch.no_grad():
        model(torch.randint(20, (2, 17)))


@pytest.mark.parametrize("positional", ["rope", "alibi"])
def test_tables_made_while_evaluating_still_train(positional):
    """Rotary tables and masks are cached per length; one first made under inference_mode must not break the
    backward pass of a later training step at that length."""
    model = AttentionModel(20, 10, 16, positional=positional, window=4)
    with torch.inference_mode():
        model(torch.randint(20, (2, 12)))
    model(torch.randint(20, (2, 12))).sum().backward()

