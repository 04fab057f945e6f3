"""Architectures of the DL strategies: shapes, token mixing, gradients through a frozen surrogate."""

from __future__ import annotations

import pytest
import torch

from vic_paraformer.dl.modelzoo import (FFNA, LSTMZ, AttributeEmbedding, ParaFormerA, ParaFormerZ,
                                        SinusoidalPositionEncoding, build_network)
from vic_paraformer.errors import StrategyError

from _dl_fakes import FakeSurrogate

N_ATTR, N_SERIES, P, B, L = 6, 9, 5, 3, 20



def _nets():
    torch.manual_seed(0)
    return {
        "paraformer_a": ParaFormerA(N_ATTR, P, d_model=16, n_heads=4, n_layers=2, dropout=0.0),
        "paraformer_z": ParaFormerZ(N_ATTR, N_SERIES, P, d_model=16, n_heads=4, n_layers=2, dropout=0.0),
        "ffn_a": FFNA(N_ATTR, P, hidden_size=16, dropout=0.0),
        "lstm_z": LSTMZ(N_ATTR, N_SERIES, P, hidden_size=16, dropout=0.0),
    }


@pytest.mark.parametrize("kind", ["paraformer_a", "paraformer_z", "ffn_a", "lstm_z"])
def test_output_shape_and_midpoint_start(kind):
    net = _nets()[kind].eval()
    a, s = torch.randn(B, N_ATTR), torch.randn(B, L, N_SERIES)
    u = net(a, s)
    assert u.shape == (B, P)
    # the head starts at bias 0.5 with tiny weights: an untrained net proposes about the midpoint
    assert torch.allclose(u, torch.full_like(u, 0.5), atol=0.05)


def test_attribute_embedding_is_value_times_vector_plus_identity():
    emb = AttributeEmbedding(N_ATTR, 8)
    a = torch.randn(B, N_ATTR)
    h = emb(a)
    assert h.shape == (B, N_ATTR, 8)
    assert torch.allclose(h[1, 2], a[1, 2] * emb.weight[2] + emb.identity[2])


def test_position_encoding_is_sinusoidal_and_checked():
    pe = SinusoidalPositionEncoding(8, max_len=50)
    out = pe(torch.zeros(1, 10, 8))
    assert torch.allclose(out[0, :, 0], torch.sin(torch.arange(10.0)))
    assert torch.allclose(out[0, :, 1], torch.cos(torch.arange(10.0)))
    with pytest.raises(StrategyError, match="longer than"):
        pe(torch.zeros(1, 51, 8))


def test_paraformer_a_attention_mixes_tokens():
    net = _nets()["paraformer_a"].eval()
    a = torch.randn(1, N_ATTR)
    with torch.no_grad():
        tokens = net.encode(a)
        base = net(a)
        for i in range(N_ATTR):
            b = a.clone()
            b[0, i] += 1.0
            t2 = net.encode(b)
            others = [j for j in range(N_ATTR) if j != i]
            # every *other* token changes: self-attention carried attribute i into them
            assert (t2[0, others] - tokens[0, others]).abs().amax(dim=-1).min() > 1e-4, f"attribute {i} not mixed"
            assert (net(b) - base).abs().max() > 1e-6, f"output ignores attribute {i}"


def test_paraformer_z_depends_on_every_attribute_and_the_series():
    net = _nets()["paraformer_z"].eval()
    a, s = torch.randn(1, N_ATTR), torch.randn(1, L, N_SERIES)
    with torch.no_grad():
        base = net(a, s)
        for i in range(N_ATTR):
            b = a.clone()
            b[0, i] += 1.0
            assert (net(b, s) - base).abs().max() > 1e-6, f"output ignores attribute {i}"
        for t in (0, L // 2, L - 1):  # cross-attention reads every day of the window
            s2 = s.clone()
            s2[0, t] += 1.0
            assert (net(a, s2) - base).abs().max() > 1e-6, f"output ignores day {t}"


@pytest.mark.parametrize("kind", ["paraformer_a", "paraformer_z", "ffn_a", "lstm_z"])
def test_gradients_reach_the_network_through_the_frozen_surrogate(kind):
    net = _nets()[kind]
    sur = FakeSurrogate()
    for q in sur.parameters():
        q.requires_grad_(False)
    before = {k: v.clone() for k, v in sur.state_dict().items()}
    a, s = torch.randn(B, 4), torch.randn(B, L, N_SERIES)
    net = build_network({"kind": kind, "n_attr": 4, "n_params": P, **({"n_series": N_SERIES} if kind.endswith("_z") else {}),
                         **({"d_model": 16, "n_heads": 4} if kind.startswith("paraformer") else {"hidden_size": 16})})
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    u = net(a, s)
    y = sur(torch.randn(B, L, 7), a, u.clamp(0, 1))
    loss = ((y[..., 0] - 0.3) ** 2).mean()
    loss.backward()
    grads = [q.grad for q in net.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    first = next(iter(net.parameters()))
    assert first.grad.abs().sum() > 0, "no gradient reached the first layer"
    assert all(q.grad is None for q in sur.parameters())
    opt.step()
    for k, v in sur.state_dict().items():
        assert torch.equal(v, before[k])


def test_build_network_rejects_bad_configs():
    with pytest.raises(StrategyError, match="unknown network kind"):
        build_network({"kind": "nope"})
    with pytest.raises(StrategyError, match="invalid configuration"):
        build_network({"kind": "ffn_a", "n_attr": 3})
    with pytest.raises(StrategyError, match="multiple of n_heads"):
        build_network({"kind": "paraformer_a", "n_attr": 3, "n_params": 5, "d_model": 10, "n_heads": 4})


def test_every_registered_network_takes_its_declared_inputs_and_hyperparameters():
    import inspect

    from vic_paraformer.dl import modelzoo
    from vic_paraformer.dl.networks import NETWORKS

    assert {"ffn_a", "lstm_z", "paraformer_a", "paraformer_z"} <= set(NETWORKS)
    assert NETWORKS["paraformer_z"].cls is modelzoo.ParaFormerZ
    for name, spec in NETWORKS.items():
        assert issubclass(spec.cls, torch.nn.Module)
        args = set(inspect.signature(spec.cls).parameters)
        inputs = {"n_attr", "n_params"} | ({"n_series"} if spec.uses_series else set())
        assert args == inputs | set(spec.hyperparameters), name


def test_a_network_name_is_registered_once():
    from vic_paraformer.dl.networks import NETWORKS, get_network, register

    same = get_network("ffn_a")
    assert register("ffn_a", same.target, uses_series=False, hyperparameters=same.hyperparameters) == same
    with pytest.raises(StrategyError, match="'ffn_a' is already registered"):
        register("ffn_a", LSTMZ, uses_series=True, hyperparameters={"hidden_size": int})
    try:
        spec = register("tiny_ffn", FFNA, uses_series=False, hyperparameters={"hidden_size": int, "dropout": float})
        net = build_network({"kind": "tiny_ffn", "n_attr": 3, "n_params": 5, "hidden_size": 4, "dropout": 0.0})
        assert spec.cls is FFNA and net(torch.zeros(2, 3)).shape == (2, 5)
    finally:
        NETWORKS.pop("tiny_ffn", None)


def test_gradients_reach_paraformer_through_a_frozen_lstm_surrogate():
    from vic_paraformer.parameters import ParameterSpace
    from vic_paraformer.region import FORCING_VARS
    from vic_paraformer.surrogate import Normalization, Surrogate, SurrogateConfig

    torch.manual_seed(0)
    cfg = SurrogateConfig(n_forcing=7, n_attributes=4, n_parameters=5, hidden_size=8, window=30, warmup=5)
    norm = Normalization([0.0] * 7, [1.0] * 7, [0.0] * 4, [1.0] * 4, [0.3, 1.0, 0.5, 0.3], [0.1, 1.0, 0.5, 0.3])
    sur = Surrogate(cfg, norm, ParameterSpace.preset("vic"), list(FORCING_VARS), ["a", "b", "c", "d"]).freeze()
    before = {k: v.clone() for k, v in sur.state_dict().items()}
    net = ParaFormerZ(4, N_SERIES, P, d_model=16, n_heads=4, n_layers=1, dropout=0.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    a = torch.randn(B, 4)
    u = net(a, torch.randn(B, L, N_SERIES))
    loss = ((sur(torch.randn(B, L, 7), a, u.clamp(0, 1))[..., 0] - 0.3) ** 2).mean()
    loss.backward()
    assert net.embed_a.weight.grad.abs().sum() > 0 and net.embed_z.weight.grad.abs().sum() > 0
    assert all(q.grad is None for q in sur.parameters())
    opt.step()
    for k, v in sur.state_dict().items():
        assert torch.equal(v, before[k])


def test_paraformer_z_patch_tokens_read_every_day_and_attention_dropout_is_separate():
    torch.manual_seed(0)
    net = ParaFormerZ(N_ATTR, N_SERIES, P, d_model=16, n_heads=4, n_layers=1, dropout=0.2, patch_days=4).eval()
    assert net.cross[0].dropout == 0.0 and net.encoder_z.layers[0].self_attn.dropout == 0.0
    assert net.encoder_z.layers[0].dropout1.p == 0.2  # residual dropout kept
    a, s = torch.randn(1, N_ATTR), torch.randn(1, 22, N_SERIES)  # 22 days: 5 tokens, the 2 earliest days dropped
    assert net.tokens(s).shape == (1, 5, 4 * N_SERIES)
    with torch.no_grad():
        base = net(a, s)
        for t in (2, 11, 21):
            s2 = s.clone()
            s2[0, t] += 1.0
            assert (net(a, s2) - base).abs().max() > 1e-6, f"output ignores day {t}"
        s2 = s.clone()
        s2[0, :2] += 1.0
        assert torch.equal(net(a, s2), base)  # the remainder days before the first token are not read
    with pytest.raises(StrategyError, match="shorter than patch_days"):
        net(a, s[:, :3])
    with pytest.raises(StrategyError, match="patch_days"):
        build_network({"kind": "paraformer_z", "n_attr": N_ATTR, "n_series": N_SERIES, "n_params": P, "d_model": 16,
                       "n_heads": 4, "n_layers": 1, "dropout": 0.1, "patch_days": 0})


def test_cell_u_batches_all_windows_like_one_window_at_a_time():
    from vic_paraformer.dl.cell_params import cell_u, param_window_starts

    net = _nets()["paraformer_z"].eval()
    a, s = torch.randn(7, N_ATTR), torch.randn(7, 100, N_SERIES)
    starts = param_window_starts(100, 30, 3)
    with torch.no_grad():
        ref = torch.stack([torch.stack([net(a[i:i + 1], s[i:i + 1, t:t + 30]) for t in starts]).mean(0)
                           for i in range(7)]).squeeze(1)
    torch.testing.assert_close(cell_u(net, a, s, 100, 30, 3, bs=3), ref, rtol=1e-5, atol=1e-6)
    assert torch.backends.mha.get_fastpath_enabled()  # the attention setting is restored
