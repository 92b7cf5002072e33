"""Noise schedule, training errors and the DDIM reverse loop of Diff3DHPE (METHOD.md §1-3).

The network is separate from the schedule: it only ever sees ``model(x2d, y_t, t)`` with
``t`` an int64 tensor of shape (B,). This module knows nothing about joints; a pose is
any tensor (B, F, J, 3) of normalised coordinates.

Each formula has one home here:
- ``Diffusion.training_error``: the per-element training error, w_t·(f − y0)² (x0) or (f − ε)² (eps);
  ``regression_error`` is the plain (pred − y0)² of the regression baselines;
  ``masked_mean`` / ``masked_sum`` reduce any of them over the scored frames
  (``diff3dhpe.distributed.sharded_mean`` is the multi-rank reduction).
- ``Diffusion.reverse``: the one sampler loop, ``for t in timesteps: pred = model(x, y, t);
  y = step(pred, y, t)``, with no host synchronisation, so ``fastpaths.GraphedSampler`` captures it
  as it is. ``sample`` / ``sample_eps`` / ``sample_hypotheses`` check their inputs and call it.

Two forms of the loss weight and of the reverse update exist (``compat``):
- ``"paper"`` (default): w_t = 1 + min(sqrt(ᾱ/(1-ᾱ)), k_clip); eq. 13 with sqrt(ᾱ_τ).
- ``"release"``: w_t = min(1 + ᾱ/sqrt(1-ᾱ), 3); ᾱ_τ in place of sqrt(ᾱ_τ) inside the bracket,
  as the authors' public code does (so official checkpoints behave as they were run).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from diff3dhpe.errors import ConfigError, ShapeError

COMPAT_FORMS = ("paper", "release")
PREDICTS = ("x0", "eps")  # what a denoiser predicts: the clean pose (Diff3DHPE) or the noise (DDIM-M)
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
    """Cosine-schedule diffusion over 3D poses: x0- and ε-prediction training errors, one DDIM reverse loop.

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
    def draw_t_and_noise(
        self,
        shape: tuple[int, ...],
        generator: torch.Generator | None = None,
        device: torch.device | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One timestep per clip, then the noise: t (B,) int64 uniform over 0..T-1, ε ``shape`` float32.

        Drawn in this order from ``generator`` on its device (else the default RNG), then moved to
        ``device`` (default: the generator's, else CPU). Keeping the order fixed keeps training runs
        reproducible, and lets every DDP rank draw the global batch's values (METHOD.md §2).
        """
        if device is None:
            device = generator.device if generator is not None else torch.device("cpu")
        t = _randint(self.num_timesteps, tuple(shape[:1]), generator, device)
        return t, _randn(shape, generator, device)

    def training_error(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        y0: torch.Tensor,
        predicts: str,
        t: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Unreduced training error (B, F', J, 3) of a denoiser (METHOD.md §2; paper eq. 4-7 for eps).

        y_t = q_sample(y0, t, ε); ``predicts="x0"``: w_t·(f(x, y_t, t) − y0)²;
        ``predicts="eps"``: (f(x, y_t, t) − ε)², unweighted. x2d (B, F, J, 2), y0 (B, F', J, 3).
        ``t`` (B,) and ``noise`` (B, F', J, 3) may be given (DDP draws them for the global batch);
        otherwise they are drawn from ``generator`` by ``draw_t_and_noise`` (only ε when t is given).
        Reduce with ``masked_mean``. Carries gradients. Raises ShapeError for bad shapes or non-finite
        inputs, ConfigError for an unknown ``predicts`` or noise given without its t.
        """
        if predicts not in PREDICTS:
            raise ConfigError(f"predicts must be one of {PREDICTS}; got {predicts!r}")
        _check_pose_pair(x2d, y0)
        if noise is None and t is None:
            t, noise = self.draw_t_and_noise(y0.shape, generator, y0.device)
        elif noise is None:
            noise = _randn(y0.shape, generator, y0.device)
        elif t is None:
            raise ConfigError("training_error: noise was given without its timesteps t")
        t = self._check_t(t).to(y0.device)
        if t.shape != y0.shape[:1]:
            raise ShapeError(f"t must have shape ({y0.shape[0]},) (one per clip); got {tuple(t.shape)}")
        noise = noise.to(device=y0.device, dtype=y0.dtype)
        y_t = self.q_sample(y0, t, noise)
        pred = _call(model, x2d, y_t, t)  # (B, F', J, 3): ŷ0 or ε̂
        if predicts == "eps":
            return regression_error(pred, noise)
        weight = self.loss_weight(t).to(y0.dtype).reshape(-1, *([1] * (y0.ndim - 1)))  # (B, 1, 1, 1)
        return weight * regression_error(pred, y0)

    def loss(
        self,
        model: Denoiser,
        x2d: torch.Tensor,
        y0: torch.Tensor,
        mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        t: torch.Tensor | None = None,
        *,
        predicts: str = "x0",
    ) -> torch.Tensor:
        """The training loss, a scalar with gradients: ``masked_mean(training_error(...), mask)`` (§2).

        ``predicts`` "x0": the weighted x0-prediction loss of Diff3DHPE; "eps": the unweighted
        ε-prediction loss of DDIM-M. ``x0_loss`` / ``eps_loss`` are this with ``predicts`` fixed.
        """
        return masked_mean(self.training_error(model, x2d, y0, predicts, t=t, generator=generator), mask)

    x0_loss = functools.partialmethod(loss, predicts="x0")
    eps_loss = functools.partialmethod(loss, predicts="eps")

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
        *,
        predicts: str = "x0",
    ) -> torch.Tensor:
        """DDIM (η = 0) from ``noise`` (B, F', J, 3) (drawn with ``generator`` when None); returns the
        last clamped ŷ0, (B, F', J, 3) normalised. x2d (B, F, J, 2); F' = ``output_frames`` or F.

        ``predicts`` "x0" (x0-DDIM, Diff3DHPE): at each τ with successor τ', ŷ0 = clamp(model(x, y, τ),
        -1, 1); then paper (eq. 13): y ← sqrt(ᾱ')·ŷ0 + sqrt(1-ᾱ')·(y - sqrt(ᾱ)·ŷ0)/sqrt(1-ᾱ); release:
        the same with ᾱ in place of sqrt(ᾱ) inside the bracket.
        ``predicts`` "eps" (standard DDIM, paper eq. 4-7, DDIM-M; ``sample_eps``): ŷ0 =
        clamp((y - sqrt(1-ᾱ)·ε̂)/sqrt(ᾱ), -1, 1); ε is re-derived from the clamped ŷ0 so the trajectory
        stays consistent, then y ← sqrt(ᾱ')·ŷ0 + sqrt(1-ᾱ')·ε, whatever ``compat`` says (the release
        has no ε sampler).
        No flip averaging here; that is the evaluator's job. Raises ShapeError for malformed x2d or
        noise, ConfigError for S outside [1, T].
        """
        y_T = self._start(x2d, steps, noise, output_frames, generator)  # (B, F', J, 3)
        return self.reverse(model, x2d, y_T, steps, predicts)

    sample_eps = functools.partialmethod(sample, predicts="eps")

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
        if sampler not in PREDICTS:
            raise ConfigError(f"sampler must be 'x0' or 'eps'; got {sampler!r}")
        _check_x2d(x2d)
        batch = x2d.shape[0]
        shape = _pose_shape(x2d, output_frames)
        if noise is None:
            noise = _randn((hypotheses, *shape), generator, x2d.device, _float_dtype(x2d))
        elif tuple(noise.shape) != (hypotheses, *shape):
            raise ShapeError(
                f"sample_hypotheses: noise must have shape {(hypotheses, *shape)} (H, B, F', J, 3); "
                f"got {tuple(noise.shape)}"
            )
        # Hypotheses ride along the batch axis: one model call per step for all H.
        x2d_all = x2d.repeat(hypotheses, *([1] * (x2d.ndim - 1)))  # (H·B, F, J, 2)
        noise_all = noise.reshape(hypotheses * batch, *shape[1:]).to(device=x2d.device, dtype=x2d.dtype)
        y_T = self._start(x2d_all, steps, noise_all, None, None)
        out = self.reverse(model, x2d_all, y_T, steps, sampler)
        every = out.reshape(hypotheses, batch, *out.shape[1:])  # (H, B, F', J, 3)
        if aggregate == "mean":
            agg = every.mean(dim=0)
        else:
            ordered = every.sort(dim=0).values
            agg = (ordered[(hypotheses - 1) // 2] + ordered[hypotheses // 2]) / 2
        spread = torch.linalg.vector_norm(every - agg, dim=-1).mean(dim=0)  # (B, F', J)
        return agg, every, spread

    def _start(
        self,
        x2d: torch.Tensor,
        steps: int,
        noise: torch.Tensor | None,
        output_frames: int | None,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """Checked inputs of the reverse loop: y_T (B, F', J, 3) on x2d's device and dtype.

        The given ``noise`` (shape and finiteness checked) or a draw from ``generator``. The checks
        sync with the device, so they run here, once, and never inside ``reverse``.
        """
        self.timesteps(steps)  # a bad step count fails before anything is drawn
        _check_x2d(x2d)
        shape = _pose_shape(x2d, output_frames)
        if noise is None:
            return _randn(shape, generator, x2d.device, _float_dtype(x2d))
        wrong_frames = output_frames is not None and noise.shape[1:2] != (output_frames,)
        if noise.ndim != 4 or noise.shape[::2] != x2d.shape[::2] or noise.shape[-1] != 3 or wrong_frames:
            raise ShapeError(
                f"noise must have shape {shape} (B, F', J, 3) matching x2d {tuple(x2d.shape)}; "
                f"got {tuple(noise.shape)}"
            )
        if not torch.isfinite(noise).all():
            raise ShapeError("noise contains NaN or inf")
        return noise.to(device=x2d.device, dtype=x2d.dtype)

    @torch.no_grad()
    def reverse(
        self, model: Denoiser, x2d: torch.Tensor, noise: torch.Tensor, steps: int, predicts: str = "x0"
    ) -> torch.Tensor:
        """The reverse process (η = 0): S model calls from y_T = ``noise`` to ŷ0 (METHOD.md §3).

        x2d (B, F, J, 2) and noise (B, F', J, 3) on one device and dtype; returns the last clamped ŷ0,
        (B, F', J, 3). Free of host synchronisation (the timestep tensors are made before the loop,
        and nothing in it reads a value back), so a CUDA graph captures it as it is. The inputs are
        NOT checked here (that would sync): ``sample`` / ``sample_eps`` / ``GraphedSampler`` check them.
        Raises ConfigError for a bad step count or ``predicts``, ShapeError for a model output whose
        shape is not noise's.
        """
        if predicts not in PREDICTS:
            raise ConfigError(f"predicts must be one of {PREDICTS}; got {predicts!r}")
        taus = self.timesteps(steps)
        batch = noise.shape[0]
        # every t exists before the first call: nothing inside the loop waits for the device
        timesteps = [torch.full((batch,), tau, dtype=torch.long, device=noise.device) for tau in taus]
        y = noise
        for t, tau, tau_next in zip(timesteps, taus, [*taus[1:], -1]):
            pred = _call(model, x2d, y, t)
            y = self.step(pred, y, tau, tau_next, predicts)
        return y

    def step(
        self, pred: torch.Tensor, y: torch.Tensor, tau: int, tau_next: int, predicts: str = "x0"
    ) -> torch.Tensor:
        """One reverse step from ``tau`` given the model's output ``pred`` there; (B, F', J, 3).

        ŷ0 = clamp(pred, −1, 1) (x0) or clamp((y − sqrt(1−ᾱ)·pred)/sqrt(ᾱ), −1, 1) (eps, paper eq. 4-7).
        Returns ŷ0 after the last step (``tau_next`` = −1), else ``ddim_step`` to ``tau_next``:
        eq. 13 or its release form for x0 models; the standard DDIM step for eps models.
        Raises ConfigError for an unknown ``predicts`` or timesteps out of order.
        """
        if predicts not in PREDICTS:
            raise ConfigError(f"predicts must be one of {PREDICTS}; got {predicts!r}")
        if predicts == "x0":
            x0 = pred.clamp(-1, 1)
        else:
            a = self._abar(y)[tau]
            x0 = ((y - (1 - a).sqrt() * pred) / a.sqrt()).clamp(-1, 1)
        if tau_next < 0:
            return x0
        # The release form only exists for x0 models; DDIM-M always uses the standard step.
        release_form = self.compat == "release" and predicts == "x0"
        return self.ddim_step(y, x0, tau, tau_next, release_form=release_form)

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


# ---------------------------------------------------------------------- reductions
def regression_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Element-wise squared error (pred − target)², same shape (METHOD.md §2, §7: the L2 loss).

    The one squared error of the package: regression baselines use it on (pred, y0), and
    ``Diffusion.training_error`` on (ŷ0, y0) or (ε̂, ε).
    """
    return (pred - target) ** 2


def masked_sum(err: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of err (B, F', J, C) over the frames where mask (B, F') is True, and how many elements that is.

    Returns (sum, count) as 0-d tensors; count is int64. With ``mask=None`` every element counts.
    Raises ShapeError for a mask that is not bool (B, F').
    """
    if mask is None:
        return err.sum(), torch.tensor(err.numel(), device=err.device)
    _check_mask(mask, err)
    mask = mask.to(err.device)
    return (err * mask[..., None, None]).sum(), mask.sum() * err.shape[2] * err.shape[3]


def masked_mean(err: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of err (B, F', J, C) over all elements, or over the frames where mask (B, F') is True.

    The reduction of every training loss (METHOD.md §2, §7 "masked out of loss"). A batch with no
    scored frame gives a zero loss, still attached to the graph. Raises ShapeError for a bad mask.
    """
    if mask is None:
        return err.mean()
    total, count = masked_sum(err, mask)
    return total / count.clamp(min=1)


# ---------------------------------------------------------------------- helpers
def _float_dtype(like: torch.Tensor) -> torch.dtype:
    return like.dtype if like.is_floating_point() else torch.float32


def _randn(
    shape, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Standard normal noise of ``shape``: drawn in float32 on the generator's device, then moved."""
    gen_device = generator.device if generator is not None else device
    out = torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=torch.float32)
    return out.to(device=device, dtype=dtype)


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


def _check_pose_pair(x2d: torch.Tensor, y0: torch.Tensor) -> None:
    _check_x2d(x2d)
    if y0.ndim != 4 or y0.shape[-1] != 3 or y0.shape[0] != x2d.shape[0] or y0.shape[2] != x2d.shape[2]:
        raise ShapeError(
            f"y0 must have shape (B, F', J, 3) with B, J as in x2d {tuple(x2d.shape)}; got {tuple(y0.shape)}"
        )
    if not torch.isfinite(y0).all():
        raise ShapeError("y0 contains NaN or inf")


def _check_mask(mask: torch.Tensor, err: torch.Tensor) -> None:
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(err.shape[:2]):
        raise ShapeError(
            f"mask must be a bool tensor of shape {tuple(err.shape[:2])} (B, F'); "
            f"got {mask.dtype} {tuple(mask.shape)}"
        )


def _call(model: Denoiser, x2d: torch.Tensor, y_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    out = model(x2d, y_t, t)
    if out.shape != y_t.shape:
        raise ShapeError(
            f"model returned shape {tuple(out.shape)}; expected the pose shape {tuple(y_t.shape)}"
        )
    return out
