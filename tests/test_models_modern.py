"""The modern recurrent controls (minGRU, LRU, Mamba, linear attention): each parallel or chunked form equals a
plain step-by-step loop written here, and every model's ``state_size`` matches the state its loop carries."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_model_contract import make_model

from models import linear_attention, lru, mamba, mingru

LENGTHS = [1, 7, 32, 33, 70]  # chunks are 8 (Mamba) or 32 steps: lengths below, at and past a chunk boundary
TOLERANCE = 1e-5


def inputs(length, width, batch=2, seed=0):
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- minGRU


def mingru_loop(layer, x):
    """h_t = (1 - z_t) h_{t-1} + z_t h̃_t, one step at a time. Returns the states and the carried state."""
    gate, candidate = layer.to_gate_and_candidate(x).chunk(2, dim=-1)
    h, states = x.new_zeros(x.shape[0], layer.hidden_size), []
    for t in range(x.shape[1]):
        z = torch.sigmoid(gate[:, t])
        h = (1 - z) * h + z * candidate[:, t]
        states.append(h)
    return torch.stack(states, 1), h


@pytest.mark.parametrize("length", LENGTHS)
def test_mingru_scan_equals_loop(length):
    layer = mingru.MinGRU(6, 5).double()
    x = inputs(length, 6)
    expected, _ = mingru_loop(layer, x)
    torch.testing.assert_close(layer(x), expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_diagonal_scan_survives_extreme_decays():
    """Log decays of -200 per step (z_t = 1 - e^-200) and of 0 (z_t = 0) in one chunk: no inf, no nan."""
    log_a = torch.tensor([[-200.0, 0.0, -1e-3, -200.0, -50.0] * 10]).unsqueeze(-1)  # (1, 50, 1)
    b = torch.linspace(-1, 1, 50).view(1, 50, 1)
    h, expected = torch.zeros(1, 1, dtype=torch.float64), []
    for t in range(50):
        h = torch.exp(log_a[:, t].double()) * h + b[:, t].double()
        expected.append(h)
    torch.testing.assert_close(mingru.diagonal_scan(log_a, b), torch.stack(expected, 1).float(),
                               atol=TOLERANCE, rtol=TOLERANCE)


# ---------------------------------------------------------------------------------------------- LRU


def lru_loop(layer, u):
    """x_k = λ x_{k-1} + γ (B u_k), y_k = Re(C x_k) + D u_k, in complex128, one step at a time."""
    lam = torch.exp(torch.complex(-torch.exp(layer.nu_log), torch.exp(layer.theta_log))).to(torch.complex128)
    gamma = torch.sqrt(1 - lam.abs() ** 2)
    B = torch.complex(layer.B[0], layer.B[1]).to(torch.complex128)
    C = torch.complex(layer.C[0], layer.C[1]).to(torch.complex128)
    x, outputs = torch.zeros(u.shape[0], lam.shape[0], dtype=torch.complex128), []
    for k in range(u.shape[1]):
        x = lam * x + gamma * (u[:, k].to(torch.complex128) @ B.T)
        outputs.append((x @ C.T).real + layer.D * u[:, k])
    return torch.stack(outputs, 1), x


@pytest.mark.parametrize("length", LENGTHS)
def test_lru_scan_equals_loop(length):
    torch.manual_seed(0)
    layer = lru.LRU(6, 5, r_min=0.0, r_max=0.99, max_phase=6.283).double()  # moduli from 0 to 0.99
    u = inputs(length, 6)
    expected, _ = lru_loop(layer, u)
    torch.testing.assert_close(layer(u), expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_lru_scan_survives_a_vanishing_modulus():
    """|λ| = exp(-exp(5)) underflows to 0 in float32; the chunked scan must still give x_k = v_k."""
    v = torch.randn(1, 40, 1, dtype=torch.complex64)
    x = lru.lru_scan(torch.tensor([complex(-148.4, 1.0)]), v)
    torch.testing.assert_close(x, v, atol=TOLERANCE, rtol=TOLERANCE)


# ---------------------------------------------------------------------------------------------- Mamba


def mamba_loop(mixer, x):
    """The whole block one token at a time, conv1d included, from the mixer's own weights.
    Returns the outputs and the carried state (SSM state h, conv buffer)."""
    E, N, width = mixer.d_inner, mixer.d_state, mixer.conv.kernel_size[0]
    A = -torch.exp(mixer.A_log)  # (E, N)
    h = x.new_zeros(x.shape[0], E, N)
    buffer = x.new_zeros(x.shape[0], E, width - 1)  # the last d_conv - 1 inputs of the conv1d
    outputs = []
    for t in range(x.shape[1]):
        u, z = mixer.in_proj(x[:, t]).chunk(2, dim=-1)  # (B, E) each
        window = torch.cat([buffer, u.unsqueeze(-1)], dim=-1)  # (B, E, d_conv)
        buffer = window[:, :, 1:]
        u = F.silu((window * mixer.conv.weight.squeeze(1)).sum(-1) + mixer.conv.bias)
        dt, B, C = mixer.x_proj(u).split([mixer.dt_rank, N, N], dim=-1)
        delta = F.softplus(mixer.dt_proj(dt))  # (B, E)
        h = torch.exp(delta.unsqueeze(-1) * A) * h + (delta * u).unsqueeze(-1) * B.unsqueeze(1)
        y = (h * C.unsqueeze(1)).sum(-1) + mixer.D * u
        outputs.append(mixer.out_proj(y * F.silu(z)))
    return torch.stack(outputs, 1), (h, buffer)


@pytest.mark.parametrize("length", LENGTHS)
def test_mamba_scan_equals_loop(length):
    torch.manual_seed(0)
    mixer = mamba.Mamba(6, 12, 4, 4, 2).double()
    x = inputs(length, 6)
    expected, _ = mamba_loop(mixer, x)
    torch.testing.assert_close(mixer(x), expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_mamba_scan_survives_large_steps():
    """Δ |A| of 500 per step (decays of e^-500) next to tiny ones: the scan has nothing to overflow."""
    L, B, E, N = 20, 1, 2, 3
    delta = torch.tensor([50.0, 1e-3] * 10).view(L, 1, 1).expand(L, B, E)
    u, Bm, Cm = torch.randn(L, B, E), torch.randn(L, B, N), torch.randn(L, B, N)
    A = -torch.tensor([1.0, 5.0, 10.0]).repeat(E, 1)
    h, expected = torch.zeros(B, E, N), []
    for t in range(L):
        h = torch.exp(delta[t].unsqueeze(-1) * A) * h + (delta[t] * u[t]).unsqueeze(-1) * Bm[t].unsqueeze(1)
        expected.append((h * Cm[t].unsqueeze(1)).sum(-1))
    y = mamba.selective_scan(u, delta, A, Bm, Cm)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.stack(expected), atol=TOLERANCE, rtol=TOLERANCE)


def test_mamba_scan_backward_is_the_exact_gradient():
    """SelectiveScan's hand-written backward against finite differences (float64), for every input."""
    torch.manual_seed(0)
    L, B, E, N = 7, 2, 3, 4
    u, B_t, C_t = (torch.randn(*shape, dtype=torch.float64, requires_grad=True)
                   for shape in ((L, B, E), (L, B, N), (L, B, N)))
    delta = (torch.rand(L, B, E, dtype=torch.float64) + 0.1).requires_grad_()
    A = (-torch.rand(E, N, dtype=torch.float64) - 0.5).requires_grad_()
    assert torch.autograd.gradcheck(mamba.SelectiveScan.apply, (u, delta, A, B_t, C_t))


# ---------------------------------------------------------------------------------------------- linear attention


def linear_attention_loop(q, k, v):
    """S_t = S_{t-1} + φ(k_t) v_tᵀ, z_t = z_{t-1} + φ(k_t), y_t = φ(q_t)ᵀ S_t / (φ(q_t)ᵀ z_t + ε)."""
    phi = lambda x: F.elu(x) + 1  # noqa: E731
    B, H, L, d = q.shape
    S, z, outputs = q.new_zeros(B, H, d, v.shape[-1]), q.new_zeros(B, H, d), []
    for t in range(L):
        S = S + phi(k[:, :, t]).unsqueeze(-1) * v[:, :, t].unsqueeze(-2)
        z = z + phi(k[:, :, t])
        numerator = (phi(q[:, :, t]).unsqueeze(-1) * S).sum(-2)
        outputs.append(numerator / ((phi(q[:, :, t]) * z).sum(-1, keepdim=True) + linear_attention.EPS))
    return torch.stack(outputs, 2), (S, z)


@pytest.mark.parametrize("length", LENGTHS)
def test_linear_attention_chunks_equal_loop(length):
    q, k, v = (inputs(length, 4, batch=6, seed=seed).view(2, 3, length, 4) for seed in range(3))
    expected, _ = linear_attention_loop(q, k, v)
    torch.testing.assert_close(linear_attention.chunked_linear(q, k, v), expected, atol=TOLERANCE, rtol=TOLERANCE)


# ---------------------------------------------------------------------------------------------- state_size


def per_sequence(*tensors):
    """Elements of a batch's carried state, per sequence (the batch dimension comes first)."""
    return sum(t[0].numel() for t in tensors)


@pytest.mark.parametrize("name", ["gru", "lstm", "rnn"])
def test_state_size_recurrent(name):
    model = make_model(name, num_layers=2)
    _, carried = model.rnn(model.embed(torch.randint(8, (3, 10))))
    carried = carried if isinstance(carried, tuple) else (carried,)  # (h,) or (h, c), each (layers, B, H)
    assert model.state_size(10) == sum(t[:, 0].numel() for t in carried)


@pytest.mark.parametrize("window", [None, 4, 50])
def test_state_size_attention_is_its_key_value_cache(window):
    """Count the keys and values that the last query attends to, layer by layer, from the real tensors."""
    model, length = make_model("attention", window=window), 20
    cached = []
    for block in model.blocks:
        attention = block.attention

        def keep(module, args, output, attention=attention):
            k, v = output.split(output.shape[-1] // 3, dim=-1)[1:]  # (B, L, D) each
            seen = attention.allowed(output.shape[1], output.device)[-1]  # what the last query may look at
            cached.append(k[0, seen].numel() + v[0, seen].numel())

        attention.w_qkv.register_forward_hook(keep)
    model(torch.randint(8, (2, length)))
    assert model.state_size(length) == sum(cached)


def test_state_size_mingru():
    model = make_model("mingru")
    carried = [mingru_loop(block.recurrent, torch.randn(2, 5, 64))[1] for block in model.blocks]
    assert model.state_size(5) == per_sequence(*carried)


def test_state_size_lru():
    """Each complex entry of x_k counts as two real numbers."""
    model = make_model("lru")
    carried = [lru_loop(block.lru, torch.randn(2, 5, 80).double())[1] for block in model.blocks]
    assert model.state_size(5) == 2 * per_sequence(*carried)


def test_state_size_mamba_includes_the_conv_buffer():
    model = make_model("mamba")
    carried = [mamba_loop(block.mixer, torch.randn(2, 5, 72))[1] for block in model.blocks]
    assert model.state_size(5) == sum(per_sequence(h, buffer) for h, buffer in carried)


def test_state_size_linear_attention_includes_the_normaliser():
    model = make_model("linear_attention")
    H, d = model.n_heads, model.head_dim
    carried = [linear_attention_loop(*torch.randn(3, 2, H, 5, d))[1] for _ in model.blocks]
    assert model.state_size(5) == sum(per_sequence(S, z) for S, z in carried)


def test_every_model_states_its_memory():
    """A model YAML without state_size would break every table that reports memory."""
    from support import MODEL_CONFIGS

    for name in MODEL_CONFIGS:
        assert make_model(name).state_size(24) > 0, name
