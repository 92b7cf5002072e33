"""Claims of METHOD.md §1-3 about the schedule, the losses and the samplers, one test each."""

from __future__ import annotations

import math

import pytest
import torch

from diff3dhpe.diffusion import Diffusion, masked_mean, regression_error
from diff3dhpe.errors import ConfigError, ShapeError

B, F, J = 2, 4, 5


def hand_alphas_cumprod(t: int, T: int = 1000, s: float = 0.008) -> float:
    """ᾱ_t from the cosine formula, with plain floats (independent of the module's numpy code)."""

    def f(u: float) -> float:
        return math.cos(((u / T) + s) / (1 + s) * math.pi / 2) ** 2

    abar = 1.0
    for k in range(t + 1):
        abar *= 1 - min(max(1 - f(k + 1) / f(k), 0.0), 0.999)
    return abar


def x2d_like(batch=B, frames=F, joints=J, dtype=torch.float32, seed=0):
    return torch.randn(batch, frames, joints, 2, generator=torch.Generator().manual_seed(seed), dtype=dtype)


class CountingModel:
    """Wraps a function of (x2d, y_t, t) and records the timesteps and batch sizes it was called with."""

    def __init__(self, fn):
        self.fn = fn
        self.calls: list[tuple[int, list[int]]] = []

    def __call__(self, x2d, y_t, t):
        assert t.dtype == torch.int64 and t.shape == (y_t.shape[0],)
        self.calls.append((y_t.shape[0], t.tolist()))
        return self.fn(x2d, y_t, t)


# ------------------------------------------------------------------ schedule
def test_cosine_schedule_matches_reference_values_and_only_last_beta_is_clipped():
    d = Diffusion()
    abar = d.alphas_cumprod
    assert abar.dtype == torch.float32 and abar.shape == (1000,)
    assert d.betas.dtype == torch.float32 and d.alphas.shape == (1000,)
    assert abar[0].item() == pytest.approx(0.99996, abs=1e-5)
    assert abar[199].item() == pytest.approx(0.8987, abs=1e-4)
    assert abar[599].item() == pytest.approx(0.3408, abs=1e-4)
    assert abar[999].item() == pytest.approx(2.43e-9, rel=1e-2)
    assert torch.nonzero(d.betas >= 0.999).flatten().tolist() == [999]
    for t in (0, 10, 500, 998):
        assert abar[t].item() == pytest.approx(hand_alphas_cumprod(t), rel=1e-6)


@pytest.mark.parametrize("t", [0, 300, 500, 999])
def test_loss_weight_both_forms_follow_their_formulas(t):
    a = hand_alphas_cumprod(t)
    paper = 1 + min(math.sqrt(a / (1 - a)), 2.0)
    release = min(1 + a / math.sqrt(1 - a), 3.0)
    assert Diffusion().loss_weight(torch.tensor([t])).item() == pytest.approx(paper, rel=1e-5)
    assert Diffusion(compat="release").loss_weight(torch.tensor([t])).item() == pytest.approx(
        release, rel=1e-5
    )


def test_loss_weight_at_500_is_1_985_paper_vs_1_691_release():
    t = torch.tensor([500])
    assert Diffusion().loss_weight(t).item() == pytest.approx(1.985, abs=1e-3)
    assert Diffusion(compat="release").loss_weight(t).item() == pytest.approx(1.691, abs=1e-3)


def test_loss_weight_k_clip_changes_the_paper_cap():
    w = Diffusion(k_clip=1.0).loss_weight(torch.arange(1000))
    assert w.max().item() == pytest.approx(2.0)


@pytest.mark.parametrize("compat, first_unclamped", [("paper", 289), ("release", 266)])
def test_weight_clamp_is_active_below_the_documented_timestep(compat, first_unclamped):
    w = Diffusion(compat=compat).loss_weight(torch.arange(1000))
    assert w.dtype == torch.float32
    assert torch.all(w[:first_unclamped] == 3.0)
    assert torch.all(w[first_unclamped:] < 3.0)


@pytest.mark.parametrize(
    "steps, expected",
    [
        (1, [999]),
        (5, [999, 799, 599, 399, 199]),
        (6, [999, 832, 665, 499, 332, 165]),
        (9, [999, 887, 776, 665, 554, 443, 332, 221, 110]),
    ],
)
def test_sampler_timesteps(steps, expected):
    assert Diffusion().timesteps(steps) == expected


def test_timesteps_are_strictly_descending_for_every_step_count():
    d = Diffusion()
    for steps in (2, 3, 7, 20, 80, 999, 1000):
        taus = d.timesteps(steps)
        assert len(taus) == steps and taus[0] == 999 and taus[-1] >= 0
        assert all(a > b for a, b in zip(taus, taus[1:]))


def test_q_sample_is_the_forward_process():
    d = Diffusion()
    y0, eps = torch.randn(3, F, J, 3), torch.randn(3, F, J, 3)
    t = torch.tensor([0, 599, 999])
    out = d.q_sample(y0, t, eps)
    for i, ti in enumerate(t.tolist()):
        a = d.alphas_cumprod[ti]
        torch.testing.assert_close(out[i], a.sqrt() * y0[i] + (1 - a).sqrt() * eps[i])


# ------------------------------------------------------------------ samplers
@pytest.mark.parametrize("compat", ["paper", "release"])
def test_one_step_returns_the_models_clamped_x0(compat):
    model = CountingModel(lambda x2d, y, t: 2 * y)
    noise = torch.randn(B, F, J, 3, generator=torch.Generator().manual_seed(1))
    out = Diffusion(compat=compat).sample(model, x2d_like(), 1, noise=noise)
    torch.testing.assert_close(out, (2 * noise).clamp(-1, 1))
    assert (noise.abs() > 0.5).any()  # so the clamp was exercised
    assert model.calls == [(B, [999] * B)]


@pytest.mark.parametrize("compat", ["paper", "release"])
@pytest.mark.parametrize("steps", [1, 2, 5, 9])
def test_perfect_x0_predictor_is_recovered_exactly(compat, steps):
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    model = CountingModel(lambda x2d, y, t: y0)
    out = Diffusion(compat=compat).sample(
        model, x2d_like(), steps, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(out, y0)
    assert [c[1][0] for c in model.calls] == Diffusion().timesteps(steps)


def test_ddim_step_paper_and_release_match_hand_values_and_differ():
    d = Diffusion()
    y, x0 = torch.tensor([0.3, -1.2], dtype=torch.float64), torch.tensor([0.5, -0.25], dtype=torch.float64)
    a, a_next = float(d.alphas_cumprod[599]), float(d.alphas_cumprod[199])
    for release, c in ((False, math.sqrt(a)), (True, a)):
        expected = [
            math.sqrt(a_next) * xi + math.sqrt(1 - a_next) * (yi - c * xi) / math.sqrt(1 - a)
            for yi, xi in zip(y.tolist(), x0.tolist())
        ]
        got = d.ddim_step(y, x0, 599, 199, release_form=release)
        assert got.tolist() == pytest.approx(expected, rel=1e-12)
    diff = d.ddim_step(y, x0, 599, 199, release_form=False) - d.ddim_step(y, x0, 599, 199, release_form=True)
    assert diff.abs().min() > 1e-2


def test_two_step_sampler_matches_hand_computation_in_each_compat_form():
    """S=2 visits 999 then 499; generic model ŷ0 = 0.7·y + 0.2 (depends on y)."""
    noise = torch.tensor([0.9, -2.0, 0.1], dtype=torch.float64).reshape(1, 1, 3, 1).expand(1, 1, 3, 3).clone()
    x2d = torch.zeros(1, 1, 3, 2, dtype=torch.float64)

    def model(x2d, y, t):
        return 0.7 * y + 0.2

    outs = {}
    for compat in ("paper", "release"):
        d = Diffusion(compat=compat)
        assert d.timesteps(2) == [999, 499]
        a, a_next = float(d.alphas_cumprod[999]), float(d.alphas_cumprod[499])
        c = math.sqrt(a) if compat == "paper" else a
        expected = []
        for n in noise.flatten().tolist():
            x0 = min(max(0.7 * n + 0.2, -1.0), 1.0)
            y = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * (n - c * x0) / math.sqrt(1 - a)
            expected.append(min(max(0.7 * y + 0.2, -1.0), 1.0))
        outs[compat] = d.sample(model, x2d, 2, noise=noise)
        assert outs[compat].flatten().tolist() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert (outs["paper"] - outs["release"]).abs().max() > 1e-7


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_eps_ddim_with_perfect_noise_predictor_recovers_y0(steps):
    d = Diffusion()
    y0 = (torch.rand(B, F, J, 3, dtype=torch.float64) * 2 - 1) * 0.9
    abar = d.alphas_cumprod.double()

    def eps_model(x2d, y, t):
        a = abar[t].reshape(-1, 1, 1, 1)
        return (y - a.sqrt() * y0) / (1 - a).sqrt()

    out = d.sample_eps(
        eps_model, x2d_like(dtype=torch.float64), steps, generator=torch.Generator().manual_seed(3)
    )
    torch.testing.assert_close(out, y0, rtol=0, atol=1e-6)


def test_eps_sampler_clamps_its_x0_estimate():
    out = Diffusion().sample_eps(lambda x2d, y, t: -50 * torch.ones_like(y), x2d_like(), 1)
    assert torch.all(out == 1.0)


def test_same_noise_gives_identical_samples_and_output_frames_sets_the_shape():
    d = Diffusion()
    model = CountingModel(lambda x2d, y, t: torch.tanh(y + x2d.mean(dim=(1, 2, 3)).reshape(-1, 1, 1, 1)))
    gen = torch.Generator().manual_seed(5)
    noise = torch.randn(B, 1, J, 3, generator=gen)
    first = d.sample(model, x2d_like(), 4, noise=noise)
    second = d.sample(model, x2d_like(), 4, noise=noise.clone())
    assert torch.equal(first, second) and first.shape == (B, 1, J, 3)
    drawn = d.sample(model, x2d_like(), 4, output_frames=1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(drawn, first)  # output_frames=1 draws the same (B, 1, J, 3) noise
    assert d.sample(model, x2d_like(), 2).shape == (B, F, J, 3)


def test_sampling_builds_no_autograd_graph():
    layer = torch.nn.Linear(3, 3)
    out = Diffusion().sample(lambda x2d, y, t: layer(y), x2d_like(), 3)
    assert not out.requires_grad


def test_float64_inputs_keep_float64():
    out = Diffusion().sample(lambda x2d, y, t: y * 0.5, x2d_like(dtype=torch.float64), 3)
    assert out.dtype == torch.float64


@pytest.mark.parametrize("predicts", ["x0", "eps"])
def test_samplers_run_the_one_reverse_loop_over_the_ddim_timesteps(predicts):
    d = Diffusion()
    model = CountingModel(lambda x2d, y, t: torch.tanh(0.9 * y))
    noise = torch.randn(B, F, J, 3, generator=torch.Generator().manual_seed(6))
    sample = d.sample if predicts == "x0" else d.sample_eps
    expected = sample(model, x2d_like(), 5, noise=noise)
    assert torch.equal(d.reverse(model, x2d_like(), noise, 5, predicts), expected)
    assert [ts[0] for _, ts in model.calls] == [999, 799, 599, 399, 199] * 2


def test_last_reverse_step_returns_the_clamped_x0_and_earlier_ones_take_a_ddim_step():
    d = Diffusion()
    y = torch.randn(B, F, J, 3, generator=torch.Generator().manual_seed(2))
    pred = 2 * y
    assert torch.equal(d.step(pred, y, 199, -1), pred.clamp(-1, 1))
    assert torch.equal(d.step(pred, y, 599, 199), d.ddim_step(y, pred.clamp(-1, 1), 599, 199))


# ------------------------------------------------------------------ hypotheses
@pytest.mark.parametrize("hypotheses", [3, 4])
def test_hypotheses_are_batched_and_aggregated(hypotheses):
    d = Diffusion()
    model = CountingModel(lambda x2d, y, t: 0.5 * y)
    noise = torch.randn(hypotheses, B, F, J, 3, generator=torch.Generator().manual_seed(2))
    expected_all = (0.5 * noise).clamp(-1, 1)  # S=1: the clamped x0 of each noise

    mean, every, spread = d.sample_hypotheses(model, x2d_like(), 1, hypotheses, noise=noise)
    torch.testing.assert_close(every, expected_all)
    torch.testing.assert_close(mean, expected_all.mean(dim=0))
    dist = (expected_all - mean).norm(dim=-1)  # (H, B, F, J)
    torch.testing.assert_close(spread, dist.mean(dim=0))
    assert model.calls == [(hypotheses * B, [999] * (hypotheses * B))]  # one call for all H

    median, _, spread_med = d.sample_hypotheses(
        model, x2d_like(), 1, hypotheses, aggregate="median", noise=noise
    )
    ordered = expected_all.sort(dim=0).values
    if hypotheses % 2:
        expected_median = ordered[hypotheses // 2]
    else:
        expected_median = (ordered[hypotheses // 2 - 1] + ordered[hypotheses // 2]) / 2
    torch.testing.assert_close(median, expected_median)
    torch.testing.assert_close(spread_med, (expected_all - median).norm(dim=-1).mean(dim=0))


def test_hypotheses_from_the_same_generator_seed_are_identical_and_differ_from_each_other():
    d = Diffusion()

    def model(x2d, y, t):
        return torch.tanh(y)

    runs = [
        d.sample_hypotheses(model, x2d_like(), 3, 5, generator=torch.Generator().manual_seed(9))
        for _ in range(2)
    ]
    for a, b in zip(runs[0], runs[1]):
        assert torch.equal(a, b)
    every = runs[0][1]
    assert every.shape == (5, B, F, J, 3)
    assert (every[0] - every[1]).abs().max() > 1e-3
    assert runs[0][2].shape == (B, F, J) and (runs[0][2] > 0).all()


def test_eps_sampler_is_selectable_for_hypotheses():
    y0 = (torch.rand(B, F, J, 3, dtype=torch.float64) * 2 - 1) * 0.9
    d = Diffusion()
    abar = d.alphas_cumprod.double()

    def eps_model(x2d, y, t):
        a = abar[t].reshape(-1, 1, 1, 1)
        return (y - a.sqrt() * y0.repeat(3, 1, 1, 1)) / (1 - a).sqrt()

    agg, every, spread = d.sample_hypotheses(eps_model, x2d_like(dtype=torch.float64), 4, 3, sampler="eps")
    torch.testing.assert_close(agg, y0, rtol=0, atol=1e-6)
    assert spread.max() < 1e-5


# ------------------------------------------------------------------ losses
def test_x0_loss_is_zero_for_a_perfect_model():
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    loss = Diffusion().x0_loss(
        lambda x2d, y, t: y0, x2d_like(), y0, generator=torch.Generator().manual_seed(0)
    )
    assert loss.item() == 0.0


@pytest.mark.parametrize("compat", ["paper", "release"])
def test_x0_loss_with_constant_error_is_mean_weight_times_error_squared(compat):
    d, e = Diffusion(compat=compat), 0.3
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    t = torch.tensor([100, 700])
    loss = d.x0_loss(lambda x2d, y, tt: y0 + e, x2d_like(), y0, t=t)
    assert loss.item() == pytest.approx(d.loss_weight(t).mean().item() * e**2, rel=1e-5)


def test_masked_x0_loss_ignores_masked_frames():
    d, e = Diffusion(), 0.2
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    mask = torch.tensor([[True, True, False, False], [False, True, True, True]])
    junk = torch.where(mask[..., None, None], y0 + e, torch.full_like(y0, 1e3))
    t = torch.tensor([50, 900])
    loss = d.x0_loss(lambda x2d, y, tt: junk, x2d_like(), y0, mask=mask, t=t)
    w = d.loss_weight(t)
    kept = mask.sum(dim=1).float()  # frames per clip
    expected = (w * kept).sum() / kept.sum() * e**2
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_x0_loss_draws_one_timestep_per_clip_reproducibly_and_passes_gradients():
    seen = []
    layer = torch.nn.Linear(3, 3)

    def model(x2d, y, t):
        seen.append(t.clone())
        return layer(y)

    y0 = torch.rand(8, F, J, 3) * 2 - 1
    x2d = x2d_like(batch=8)
    losses = [
        Diffusion().x0_loss(model, x2d, y0, generator=torch.Generator().manual_seed(4)) for _ in range(2)
    ]
    assert losses[0].item() == losses[1].item()
    assert torch.equal(seen[0], seen[1]) and seen[0].shape == (8,)
    assert ((seen[0] >= 0) & (seen[0] < 1000)).all() and len(set(seen[0].tolist())) > 1
    losses[0].backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_eps_loss_is_zero_for_a_perfect_noise_predictor():
    d = Diffusion()
    y0 = torch.rand(B, F, J, 3) * 2 - 1

    def eps_model(x2d, y, t):
        a = d.alphas_cumprod[t].reshape(-1, 1, 1, 1)
        return (y - a.sqrt() * y0) / (1 - a).sqrt()

    t = torch.tensor([10, 500])  # away from t≈999, where float32 recovery of ε loses digits
    loss = d.eps_loss(eps_model, x2d_like(), y0, t=t, generator=torch.Generator().manual_seed(0))
    assert loss.item() < 1e-10
    wrong = d.eps_loss(lambda x2d, y, tt: torch.zeros_like(y), x2d_like(), y0, t=t)
    assert wrong.item() > 0.5  # E[ε²] = 1


@pytest.mark.parametrize("compat", ["paper", "release"])
def test_x0_training_error_is_w_t_times_the_squared_error_per_element(compat):
    d = Diffusion(compat=compat)
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    e = torch.rand(B, F, J, 3, generator=torch.Generator().manual_seed(1)) - 0.5
    t, noise = torch.tensor([20, 800]), torch.randn(B, F, J, 3)
    err = d.training_error(lambda x2d, y, tt: y0 + e, x2d_like(), y0, "x0", t=t, noise=noise)
    assert err.shape == (B, F, J, 3)
    torch.testing.assert_close(err, d.loss_weight(t).reshape(-1, 1, 1, 1) * e**2, rtol=1e-5, atol=1e-7)


def test_eps_training_error_is_the_unweighted_squared_noise_error():
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    t, noise = torch.tensor([20, 800]), torch.randn(B, F, J, 3)
    err = Diffusion().training_error(lambda x2d, y, tt: torch.zeros_like(y), x2d_like(), y0, "eps", t=t,
                                     noise=noise)
    assert torch.equal(err, noise**2)


def test_training_error_draws_t_then_noise_from_the_generator():
    d = Diffusion()
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    model = CountingModel(lambda x2d, y, tt: torch.tanh(y))
    drawn = d.training_error(model, x2d_like(), y0, "x0", generator=torch.Generator().manual_seed(4))
    t, noise = d.draw_t_and_noise(y0.shape, torch.Generator().manual_seed(4))
    given = d.training_error(model, x2d_like(), y0, "x0", t=t, noise=noise)
    assert torch.equal(drawn, given) and model.calls[0] == model.calls[1] == (B, t.tolist())


@pytest.mark.parametrize("predicts", ["x0", "eps"])
def test_losses_are_the_masked_mean_of_the_training_error(predicts):
    d = Diffusion()
    y0 = torch.rand(B, F, J, 3) * 2 - 1
    mask = torch.tensor([[True, False, True, True], [False, False, True, False]])

    def model(x2d, y, t):
        return torch.tanh(y)

    loss = d.x0_loss if predicts == "x0" else d.eps_loss
    for m in (None, mask):
        err = d.training_error(model, x2d_like(), y0, predicts, generator=torch.Generator().manual_seed(3))
        expected = masked_mean(err, m)
        assert torch.equal(loss(model, x2d_like(), y0, mask=m, generator=torch.Generator().manual_seed(3)),
                           expected)


def test_masked_mean_averages_the_scored_frames_and_is_zero_without_any():
    pred = torch.rand(B, F, J, 3, requires_grad=True)
    target = torch.rand(B, F, J, 3)
    mask = torch.tensor([[True, False, False, False], [False, False, True, True]])
    err = regression_error(pred, target)
    assert torch.equal(err, (pred - target) ** 2)
    kept = torch.stack([err[0, 0], err[1, 2], err[1, 3]])
    torch.testing.assert_close(masked_mean(err, mask), kept.mean(), rtol=1e-6, atol=0)
    assert torch.equal(masked_mean(err), err.mean())
    nothing = masked_mean(err, torch.zeros(B, F, dtype=torch.bool))
    assert nothing.item() == 0.0 and nothing.requires_grad


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("steps", [0, -3, 1001])
def test_bad_step_count_raises_config_error_naming_the_range(steps):
    with pytest.raises(ConfigError, match=r"\[1, 1000\]"):
        Diffusion().sample(lambda x2d, y, t: y, x2d_like(), steps)


def test_bad_inputs_raise_shape_errors():
    d = Diffusion()

    def model(x2d, y, t):
        return y

    with pytest.raises(ShapeError, match="noise"):
        d.sample(model, x2d_like(), 2, noise=torch.zeros(B, F, J + 1, 3))
    with pytest.raises(ShapeError, match="noise"):
        d.sample(model, x2d_like(), 2, noise=torch.zeros(B, F, J, 3), output_frames=1)
    bad = x2d_like()
    bad[0, 1, 2, 0] = float("nan")
    with pytest.raises(ShapeError, match="NaN"):
        d.sample(model, bad, 2)
    with pytest.raises(ShapeError, match=r"\(B, F, J, 2\)"):
        d.sample(model, torch.zeros(B, F, J, 3), 2)
    with pytest.raises(ShapeError, match="model returned"):
        d.sample(lambda x2d, y, t: y[:, :1], x2d_like(), 2)
    with pytest.raises(ShapeError, match="mask"):
        d.x0_loss(model, x2d_like(), torch.zeros(B, F, J, 3), mask=torch.ones(B, F + 1, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"\[0, 999\]"):
        d.loss_weight(torch.tensor([1000]))
    with pytest.raises(ShapeError, match="noise"):
        d.sample_hypotheses(model, x2d_like(), 2, 3, noise=torch.zeros(2, B, F, J, 3))


def test_bad_configuration_raises_config_error():
    with pytest.raises(ConfigError, match="compat"):
        Diffusion(compat="official")
    with pytest.raises(ConfigError, match="k_clip"):
        Diffusion(k_clip=0)
    with pytest.raises(ConfigError, match="hypotheses"):
        Diffusion().sample_hypotheses(lambda x2d, y, t: y, x2d_like(), 2, 0)
    with pytest.raises(ConfigError, match="aggregate"):
        Diffusion().sample_hypotheses(lambda x2d, y, t: y, x2d_like(), 2, 2, aggregate="mode")
    y0 = torch.zeros(B, F, J, 3)
    with pytest.raises(ConfigError, match="predicts"):
        Diffusion().training_error(lambda x2d, y, t: y, x2d_like(), y0, "v")
    with pytest.raises(ConfigError, match="without its timesteps"):
        Diffusion().training_error(lambda x2d, y, t: y, x2d_like(), y0, "x0", noise=torch.zeros_like(y0))
    with pytest.raises(ConfigError, match="predicts"):
        Diffusion().reverse(lambda x2d, y, t: y, x2d_like(), torch.zeros_like(y0), 2, "v")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_sampling_with_a_cpu_generator_matches_cpu():
    d = Diffusion()

    def model(x2d, y, t):
        return torch.tanh(0.5 * y + x2d.mean())

    cpu = d.sample(model, x2d_like(), 5, generator=torch.Generator().manual_seed(0))
    gpu = d.sample(model, x2d_like().cuda(), 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-6)
    loss = d.x0_loss(model, x2d_like().cuda(), cpu.cuda(), generator=torch.Generator().manual_seed(1))
    assert loss.device.type == "cuda"
