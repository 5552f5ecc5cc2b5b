"""The model contract (models/base.py), for every YAML in conf/model: tokens (B, L) in, logits (B, L, C) out, causal,
and a state that grows with the sequence exactly when the model says so."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from hydra.utils import instantiate
from support import MODEL_CONFIGS, compose_config

VOCAB, CLASSES, LENGTH = 12, 8, 24


def make_model(name: str, **overrides):
    cfg = compose_config([f"model={name}"]).model
    for key, value in overrides.items():
        cfg[key] = value
    torch.manual_seed(0)
    return instantiate(cfg, vocab_size=VOCAB, num_classes=CLASSES, max_len=LENGTH, _convert_="all")


def token_embedding_gradient(model, tokens, position):
    """d logits[:, position] / d (token embeddings), via a hook on the first embedding layer."""
    embedding = next(m for m in model.modules() if isinstance(m, nn.Embedding))
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["embedded"] = output

    handle = embedding.register_forward_hook(keep)
    model(tokens)[:, position].sum().backward()
    handle.remove()
    return captured["embedded"].grad  # (B, L, D)


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_shapes(name):
    model = make_model(name)
    tokens = torch.randint(VOCAB, (3, LENGTH))
    logits = model(tokens)
    assert logits.shape == (3, LENGTH, CLASSES) and logits.dtype == torch.float32
    assert model(tokens[:, :5]).shape == (3, 5, CLASSES), "shorter sequences work too"


@pytest.mark.parametrize("name", MODEL_CONFIGS)
@pytest.mark.parametrize("position", [0, 9, LENGTH - 1])
def test_causal_by_gradient(name, position):
    model = make_model(name)
    grad = token_embedding_gradient(model, torch.randint(VOCAB, (2, LENGTH)), position)
    assert torch.count_nonzero(grad[:, position + 1:]) == 0, "output depends on a later input"
    assert torch.count_nonzero(grad[:, position]) > 0, "output ignores its own input: the test would be vacuous"


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_causal_by_perturbation(name):
    model = make_model(name).eval()
    tokens = torch.randint(VOCAB, (2, LENGTH))
    changed = tokens.clone()
    changed[:, 15:] = (changed[:, 15:] + 1) % VOCAB
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert torch.equal(before[:, :15], after[:, :15])
    assert not torch.allclose(before[:, 15:], after[:, 15:])


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rope", "alibi", "none"])
@pytest.mark.parametrize("window", [None, 3])
def test_attention_variants_are_causal(positional, window):
    model = make_model("attention", positional=positional, window=window)
    grad = token_embedding_gradient(model, torch.randint(VOCAB, (2, LENGTH)), 10)
    assert torch.count_nonzero(grad[:, 11:]) == 0


def test_window_limits_what_a_query_sees():
    """With window w, output t depends on inputs t-w+1..t only (one layer: a hard, known window)."""
    model = make_model("attention", window=4, n_layers=1)
    grad = token_embedding_gradient(model, torch.randint(VOCAB, (2, LENGTH)), 12)
    seen = grad.abs().sum(dim=(0, 2)) > 0
    assert seen.nonzero().flatten().tolist() == [9, 10, 11, 12]


def test_parameter_counts_are_matched():
    """Default sizes at the default task: the largest model has at most 15% more parameters than the smallest."""
    cfg = compose_config([])
    task = instantiate(cfg.task, _convert_="all")
    counts = {}
    for name in MODEL_CONFIGS:
        model_cfg = compose_config([f"model={name}"]).model
        model = instantiate(model_cfg, vocab_size=task.vocab_size, num_classes=task.num_classes,
                            max_len=task.seq_len, _convert_="all")
        counts[name] = sum(p.numel() for p in model.parameters())
    assert max(counts.values()) / min(counts.values()) <= 1.15, counts


@pytest.mark.parametrize("name", MODEL_CONFIGS)
def test_states_whether_its_state_grows(name):
    """``state_grows_with_length`` is a bool, and ``state_size`` grows with seq_len exactly when it says so
    (compared far beyond any window, where a capped cache has stopped growing)."""
    model = make_model(name)
    grows = getattr(model, "state_grows_with_length", None)
    assert type(grows) is bool, f"{name}: state_grows_with_length={grows!r}, must be True or False (models/base.py)"
    far = 10 ** 6
    sizes = [model.state_size(far), model.state_size(2 * far)]
    assert all(type(size) is int and size > 0 for size in sizes), sizes
    assert (sizes[1] > sizes[0]) == grows, f"{name}: state_size({far}), state_size({2 * far}) = {sizes}"
