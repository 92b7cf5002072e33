"""Noise schedule, training losses and DDIM samplers of Diff3DHPE (METHOD.md §1-3).

The network is separate from the schedule: it only ever sees ``model(x2d, y_t, t)`` with
``t`` an int64 tensor of shape (B,). This module knows nothing about joints; a pose is
any tensor (B, F, J, 3) of normalised coordinates.

Two forms of the loss weight and of the reverse update exist (``compat``):
- ``"paper"`` (default): w_t = 1 + min(sqrt(ᾱ/(1-ᾱ)), k_clip); eq. 13 with sqrt(ᾱ_τ).
- ``"release"``: w_t = min(1 + ᾱ/sqrt(1-ᾱ), 3); ᾱ_τ in place of sqrt(ᾱ_τ) inside the bracket,
  as the authors' public code does (so official checkpoints behave as they were run).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from diff3dhpe.errors import ConfigError, ShapeError

COMPAT_FORMS = ("paper", "release")
COSINE_S = 0.008
MAX_BETA = 0.999
RELEASE_MAX_WEIGHT = 3.0

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def cosine_alphas_cumprod(timesteps: int, s: float = COSINE_S) -> tuple[np.ndarray, np.ndarray]:
    """Cosine schedule in float64: returns (betas, alphas_cumprod), each (T,).

    f(u) = cos(((u/T) + s)/(1 + s) · π/2)², ᾱ(u) = f(u)/f(0), β_t = clip(1 - ᾱ(t+1)/ᾱ(t), 0, 0.999).
    """
    u = np.arange(timesteps + 1, dtype=np.float64)
    f = np.cos(((u / timesteps) + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = np.clip(1.0 - abar[1:] / abar[:-1], 0.0, MAX_BETA)
    return betas, np.cumprod(1.0 - betas)


def ddim_timesteps(steps: int, timesteps: int) -> list[int]:
    """The S descending timesteps τ visited by the sampler.

    reversed(int(linspace(-1, T-1, S+1))) in float32, truncated toward zero, without the final -1.
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or not 1 <= steps <= timesteps:
        raise ConfigError(f"sampling steps S must be an integer in [1, {timesteps}]; got {steps!r}")
    grid = torch.linspace(-1, timesteps - 1, int(steps) + 1, dtype=torch.float32)
    return grid.long().flip(0).tolist()[:-1]


class Diffusion:
    """Cosine-schedule diffusion over 3D poses with x0- and ε-prediction losses and DDIM samplers.

    Buffers (float32 CPU tensors, shape (T,)): ``betas``, ``alphas``, ``alphas_cumprod``.
    Copies on other devices / dtypes are made on first use and cached.
    """

    def __init__(self, timesteps: int = 1000, compat: str = "paper", k_clip: float = 2.0):
        if not isinstance(timesteps, (int, np.integer)) or isinstance(timesteps, bool) or timesteps < 2:
            raise ConfigError(f"diffusion timesteps T must be an integer >= 2; got {timesteps!r}")
        if compat not in COMPAT_FORMS:
            raise ConfigError(f"diffusion compat must be one of {COMPAT_FORMS}; got {compat!r}")
        if not (isinstance(k_clip, (int, float)) and math.isfinite(k_clip) and k_clip > 0):
            raise ConfigError(f"diffusion k_clip must be a positive finite number; got {k_clip!r}")
        self.num_timesteps = int(timesteps)
        self.compat = compat
        self.k_clip = float(k_clip)
        betas, abar = cosine_alphas_cumprod(self.num_timesteps)
        self.betas = torch.from_numpy(betas).float()
        self.alphas = torch.from_numpy(1.0 - betas).float()
        self.alphas_cumprod = torch.from_numpy(abar).float()
        self._abar_cache: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def __repr__(self) -> str:
        return f"Diffusion(timesteps={self.num_timesteps}, compat={self.compat!r}, k_clip={self.k_clip})"

    # ------------------------------------------------------------------ schedule helpers
    def _abar(self, like: torch.Tensor) -> torch.Tensor:
        """ᾱ on the device of ``like``, in its floating dtype (float32 when ``like`` is integer)."""
        dtype = like.dtype if like.is_floating_point() else torch.float32
        key = (like.device, dtype)
        if key not in self._abar_cache:
            self._abar_cache[key] = self.alphas_cumprod.to(device=like.device, dtype=dtype)
        return self._abar_cache[key]

    def _check_t(self, t: torch.Tensor | int | list[int]) -> torch.Tensor:
        t = torch.as_tensor(t)
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise ShapeError(f"timesteps t must be an integer tensor; got dtype {t.dtype}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.num_timesteps):
            raise ShapeError(
                f"timesteps t must lie in [0, {self.num_timesteps - 1}]; "
                f"got min {int(t.min())}, max {int(t.max())}"
            )
        return t.long()

    def timesteps(self, steps: int) -> list[int]:
        """S descending sampler timesteps (S=5 → [999, 799, 599, 399, 199])."""
        return ddim_timesteps(steps, self.num_timesteps)

    def loss_weight(self, t: torch.Tensor | int | list[int]) -> torch.Tensor:
        """Weight w_t of the x0 loss for integer timesteps ``t`` (any shape); float32, on t's device."""
        t = self._check_t(t)
        abar = self._abar(t)[t]
        if self.compat == "paper":
            snr_sqrt = torch.sqrt(abar / (1 - abar))
            return 1 + torch.clamp(snr_sqrt, max=self.k_clip)
        return torch.clamp(1 + abar / torch.sqrt(1 - abar), max=RELEASE_MAX_WEIGHT)

    def q_sample(self, y0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward process y_t = sqrt(ᾱ_t)·y0 + sqrt(1-ᾱ_t)·ε; ``t`` (B,) broadcast over y0's other dims."""
        if noise.shape != y0.shape:
            raise ShapeError(
                f"q_sample: noise shape {tuple(noise.shape)} must equal y0 shape {tuple(y0.shape)}"
            )
        t = self._check_t(t).to(y0.device)
        if t.shape != y0.shape[:1]:
            raise ShapeError(
                f"q_sample: t must have shape ({y0.shape[0]},) (one per clip); got {tuple(t.shape)}"
            )
        abar = self._abar(y0)[t].reshape(-1, *([1] * (y0.ndim - 1)))  # (B, 1, 1, 1)
        return abar.sqrt() * y0 + (1 - abar).sqrt() * noise

    # ------------------------------------------------------------------ losses
    def _draw_t_and_noise(
        self, y0: torch.Tensor, generator: torch.Generator | None, t: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if t is None:
            t = _randint(self.num_timesteps, (y0.shape[0],), generator, y0.device)
        else:
            t = self._check_t(t).to(y0.device)
            if t.shape != y0.shape[:1]:
                raise ShapeError(f"t must have shape ({y0.shape[0]},) (one per clip); got {tuple(t.shape)}")
        return t, _randn(y0.shape, generator, y0)

    def x0_loss(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        y0: torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Weighted x0-prediction loss: mean of w_t·(f(x, y_t, t) - y0)² (METHOD.md §2).

        One timestep per clip, uniform over 0..T-1 (or the given ``t`` (B,)). The mean runs over
        all elements, or over the frames with ``mask`` (B, F') True when a mask is given.
        Returns a scalar tensor that carries gradients.
        """
        _check_pose_pair(x2d, y0, mask)
        t, noise = self._draw_t_and_noise(y0, generator, t)
        y_t = self.q_sample(y0, t, noise)
        pred = _call(model, x2d, y_t, t)
        weight = self.loss_weight(t).to(y0.dtype).reshape(-1, *([1] * (y0.ndim - 1)))  # (B, 1, 1, 1)
        return _masked_mean(weight * (pred - y0) ** 2, mask)

    def eps_loss(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        y0: torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """ε-prediction loss of the DDIM-M baseline: mean (ε - f(x, y_t, t))², unweighted."""
        _check_pose_pair(x2d, y0, mask)
        t, noise = self._draw_t_and_noise(y0, generator, t)
        y_t = self.q_sample(y0, t, noise)
        pred = _call(model, x2d, y_t, t)
        return _masked_mean((pred - noise) ** 2, mask)

    # ------------------------------------------------------------------ samplers
    @torch.no_grad()
    def sample(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        steps: int,
        noise: torch.Tensor | None = None,
        output_frames: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """x0-DDIM (η = 0) for an x0-predicting model; returns the last clamped ŷ0, (B, F', J, 3).

        At each τ with successor τ': ŷ0 = clamp(model(x, y, τ), -1, 1); then
        paper (eq. 13): y ← sqrt(ᾱ')·ŷ0 + sqrt(1-ᾱ')·(y - sqrt(ᾱ)·ŷ0)/sqrt(1-ᾱ);
        release: the same with ᾱ in place of sqrt(ᾱ) inside the bracket.
        No flip averaging here; that is the evaluator's job.
        """
        return self._ddim(model, x2d, steps, noise, output_frames, generator, predicts="x0")

    @torch.no_grad()
    def sample_eps(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        steps: int,
        noise: torch.Tensor | None = None,
        output_frames: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Standard DDIM (η = 0, paper eq. 4-7) for an ε-predicting model (DDIM-M).

        ŷ0 = clamp((y - sqrt(1-ᾱ)·ε̂)/sqrt(ᾱ), -1, 1); ε is re-derived from the clamped ŷ0 so the
        trajectory stays consistent, then y ← sqrt(ᾱ')·ŷ0 + sqrt(1-ᾱ')·ε. Uses the standard form
        whatever ``compat`` says (the release has no ε sampler).
        """
        return self._ddim(model, x2d, steps, noise, output_frames, generator, predicts="eps")

    @torch.no_grad()
    def sample_hypotheses(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        steps: int,
        hypotheses: int,
        aggregate: str = "mean",
        generator: torch.Generator | None = None,
        sampler: str = "x0",
        output_frames: int | None = None,
        noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw H hypotheses from H noises in one batched run and aggregate them.

        ``noise`` (H, B, F', J, 3) may be given for reproducibility; otherwise it is drawn
        from ``generator``. Returns (aggregate (B, F', J, 3), all (H, B, F', J, 3),
        spread (B, F', J) = mean over hypotheses of the per-joint Euclidean distance to the aggregate).
        ``aggregate="median"`` is the coordinate-wise median (mean of the two middle values for even H).
        """
        if not isinstance(hypotheses, (int, np.integer)) or isinstance(hypotheses, bool) or hypotheses < 1:
            raise ConfigError(f"hypotheses H must be an integer >= 1; got {hypotheses!r}")
        if aggregate not in ("mean", "median"):
            raise ConfigError(f"aggregate must be 'mean' or 'median'; got {aggregate!r}")
        if sampler not in ("x0", "eps"):
            raise ConfigError(f"sampler must be 'x0' or 'eps'; got {sampler!r}")
        _check_x2d(x2d)
        batch = x2d.shape[0]
        shape = _pose_shape(x2d, output_frames)
        if noise is None:
            noise = _randn((hypotheses, *shape), generator, x2d)
        elif tuple(noise.shape) != (hypotheses, *shape):
            raise ShapeError(
                f"sample_hypotheses: noise must have shape {(hypotheses, *shape)} (H, B, F', J, 3); "
                f"got {tuple(noise.shape)}"
            )
        # Hypotheses ride along the batch axis: one model call per step for all H.
        x2d_all = x2d.repeat(hypotheses, *([1] * (x2d.ndim - 1)))  # (H·B, F, J, 2)
        noise_all = noise.reshape(hypotheses * batch, *shape[1:]).to(device=x2d.device, dtype=x2d.dtype)
        out = self._ddim(model, x2d_all, steps, noise_all, None, None, predicts=sampler)
        every = out.reshape(hypotheses, batch, *out.shape[1:])  # (H, B, F', J, 3)
        if aggregate == "mean":
            agg = every.mean(dim=0)
        else:
            ordered = every.sort(dim=0).values
            agg = (ordered[(hypotheses - 1) // 2] + ordered[hypotheses // 2]) / 2
        spread = torch.linalg.vector_norm(every - agg, dim=-1).mean(dim=0)  # (B, F', J)
        return agg, every, spread

    def _ddim(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        steps: int,
        noise: torch.Tensor | None,
        output_frames: int | None,
        generator: torch.Generator | None,
        predicts: str,
    ) -> torch.Tensor:
        taus = self.timesteps(steps)
        _check_x2d(x2d)
        shape = _pose_shape(x2d, output_frames)
        if noise is None:
            y = _randn(shape, generator, x2d)
        else:
            wrong_frames = output_frames is not None and noise.shape[1:2] != (output_frames,)
            if noise.ndim != 4 or noise.shape[::2] != x2d.shape[::2] or noise.shape[-1] != 3 or wrong_frames:
                raise ShapeError(
                    f"noise must have shape {shape} (B, F', J, 3) matching x2d {tuple(x2d.shape)}; "
                    f"got {tuple(noise.shape)}"
                )
            if not torch.isfinite(noise).all():
                raise ShapeError("noise contains NaN or inf")
            y = noise.to(device=x2d.device, dtype=x2d.dtype)
        abar = self._abar(y)
        batch = y.shape[0]
        for tau, tau_next in zip(taus, [*taus[1:], -1]):
            t = torch.full((batch,), tau, dtype=torch.long, device=y.device)
            out = _call(model, x2d, y, t)
            a = abar[tau]
            if predicts == "x0":
                x0 = out.clamp(-1, 1)
            else:
                x0 = ((y - (1 - a).sqrt() * out) / a.sqrt()).clamp(-1, 1)
            if tau_next < 0:
                return x0
            # The release form only exists for x0 models; DDIM-M always uses the standard step.
            release_form = self.compat == "release" and predicts == "x0"
            y = self.ddim_step(y, x0, tau, tau_next, release_form=release_form)
        raise AssertionError("unreachable: timesteps() always ends with a final step")

    def ddim_step(
        self, y: torch.Tensor, x0: torch.Tensor, tau: int, tau_next: int, release_form: bool | None = None
    ) -> torch.Tensor:
        """One deterministic (η = 0) reverse step from timestep ``tau`` to ``tau_next`` given ŷ0.

        y' = sqrt(ᾱ')·ŷ0 + sqrt(1-ᾱ')·(y - c·ŷ0)/sqrt(1-ᾱ), c = sqrt(ᾱ) (paper eq. 13) or ᾱ
        (release form; default follows ``compat``). No clamping here.
        """
        if release_form is None:
            release_form = self.compat == "release"
        if not 0 <= tau_next < tau < self.num_timesteps:
            raise ConfigError(
                f"ddim_step needs 0 <= tau_next < tau < {self.num_timesteps}; got {tau}, {tau_next}"
            )
        abar = self._abar(y)
        a, a_next = abar[tau], abar[tau_next]
        shrink = a if release_form else a.sqrt()
        eps = (y - shrink * x0) / (1 - a).sqrt()
        return a_next.sqrt() * x0 + (1 - a_next).sqrt() * eps


# ---------------------------------------------------------------------- helpers
def _randn(shape, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise of ``shape`` on like's device/dtype, drawn on the generator's device."""
    device = generator.device if generator is not None else like.device
    out = torch.randn(tuple(shape), generator=generator, device=device, dtype=torch.float32)
    return out.to(device=like.device, dtype=like.dtype if like.is_floating_point() else torch.float32)


def _randint(high: int, shape, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randint(0, high, tuple(shape), generator=generator, device=gen_device).to(device)


def _check_x2d(x2d: torch.Tensor) -> None:
    if not isinstance(x2d, torch.Tensor):
        raise ShapeError(f"x2d must be a torch tensor (B, F, J, 2); got {type(x2d).__name__}")
    if x2d.ndim != 4 or x2d.shape[-1] != 2:
        raise ShapeError(f"x2d must have shape (B, F, J, 2); got {tuple(x2d.shape)}")
    if not torch.isfinite(x2d).all():
        raise ShapeError("x2d contains NaN or inf (corrupted 2D keypoints?)")


def _pose_shape(x2d: torch.Tensor, output_frames: int | None) -> tuple[int, ...]:
    batch, frames, joints, _ = x2d.shape
    if output_frames is not None:
        if not isinstance(output_frames, (int, np.integer)) or output_frames < 1:
            raise ConfigError(f"output_frames must be a positive integer; got {output_frames!r}")
        frames = int(output_frames)
    return (batch, frames, joints, 3)


def _check_pose_pair(x2d: torch.Tensor, y0: torch.Tensor, mask: torch.Tensor | None) -> None:
    _check_x2d(x2d)
    if y0.ndim != 4 or y0.shape[-1] != 3 or y0.shape[0] != x2d.shape[0] or y0.shape[2] != x2d.shape[2]:
        raise ShapeError(
            f"y0 must have shape (B, F', J, 3) with B, J as in x2d {tuple(x2d.shape)}; got {tuple(y0.shape)}"
        )
    if not torch.isfinite(y0).all():
        raise ShapeError("y0 contains NaN or inf")
    if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != tuple(y0.shape[:2])):
        raise ShapeError(
            f"mask must be a bool tensor of shape {tuple(y0.shape[:2])} (B, F'); "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def _call(model: Denoiser, x2d: torch.Tensor, y_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    out = model(x2d, y_t, t)
    if out.shape != y_t.shape:
        raise ShapeError(
            f"model returned shape {tuple(out.shape)}; expected the pose shape {tuple(y_t.shape)}"
        )
    return out


def _masked_mean(err: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of err (B, F', J, 3) over all elements, or over the frames where mask (B, F') is True."""
    if mask is None:
        return err.mean()
    mask = mask.to(err.device)
    kept = mask.sum() * err.shape[2] * err.shape[3]
    # A batch with no scored frame contributes a zero loss (still attached to the graph).
    return (err * mask[..., None, None]).sum() / kept.clamp(min=1)
