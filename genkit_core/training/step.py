"""One optimisation step: forward, backward, optional clipping, the updates, and bookkeeping.

The objective returns one loss per optimiser group; each is back-propagated into its own
group's parameters only (``backward(inputs=...)``), all before any update, so an adversary's
loss never reaches the model's gradient and no update changes what another group's gradient
was computed from.

Metrics are summed on the device and non-finite values are recorded on the device, so a step
needs no host synchronisation. On the CPU (where synchronising is free) and in ``skip`` mode the
step checks the loss before the update and never applies a non-finite one. On CUDA the whole
step can be captured once as a CUDA graph and replayed (``train.compile``). Under DDP the
decision to skip an update is taken by all ranks together, so their weights never drift apart.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ..data.loading import as_float
from ..errors import GenkitWarning
from .distributed import Distributed
from .optim import OptimizerGroups

__all__ = ["NonFinite", "TrainStep"]


@dataclass(frozen=True)
class NonFinite:
    """Where training first went non-finite: the step and the names of the offending values."""

    step: int
    names: tuple[str, ...]
    parameters_finite: bool

    def describe(self) -> str:
        """``the divergence term became non-finite (nan or inf) at step 12``, or the parameters."""
        if not self.parameters_finite:
            return (
                f"the parameters became non-finite (nan or inf) by step {self.step}, "
                "after a non-finite gradient or update"
            )
        named = [n for n in self.names if n != "loss"] or list(self.names)
        if len(named) > 1 and "gradient" in named:  # a non-finite term makes it so: not news
            named.remove("gradient")
        what = " and ".join(n if n == "gradient" else f"{n} term" for n in named)
        return f"the {what} became non-finite (nan or inf) at step {self.step}"


class TrainStep:
    """The training step for one model, its optimisers and a device.

    Args:
        module: what the forward pass calls (the model, or its DistributedDataParallel wrapper).
        model: the model itself (for its parameters, buffers, terms and groups).
        optimizers: one optimiser per parameter group of the model's objective.
        groups: the trainable parameters of each group, in the objective's order.
        device: where the bookkeeping tensors live.
        clip_grad_norm: clip each group's gradient norm to this value (None: no clipping).
        skip_nonfinite: skip updates whose loss or gradient is non-finite instead of stopping.
        sync_each_step: check every step before the update (free on the CPU).
        distributed: the ranks that must agree on skipping an update (default: this one alone).
    """

    def __init__(
        self,
        module: nn.Module,
        model: nn.Module,
        optimizers: OptimizerGroups,
        groups: dict[str, list[nn.Parameter]],
        device: torch.device,
        clip_grad_norm: float | None = None,
        skip_nonfinite: bool = False,
        sync_each_step: bool = True,
        distributed: Distributed | None = None,
    ):
        self.module, self.optimizers = module, optimizers
        self.model = model
        self.groups = groups
        self.terms: list[str] = list(model.terms)  # type: ignore[arg-type]
        self.distributed = distributed or Distributed()
        self.params = [p for params in groups.values() for p in params]
        self.clip = clip_grad_norm
        self.skip = skip_nonfinite
        self.sync = sync_each_step or skip_nonfinite
        losses = ["loss", *(f"{g}_loss" for g in list(groups)[1:])]
        self.names = [*losses, *self.terms]
        """What the metric sums hold after the row count, in order (``loss`` first)."""
        self.checked = [*self.names, "gradient"]
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.sums = torch.zeros(1 + len(self.names), dtype=dtype, device=device)
        self.step_t = torch.zeros((), dtype=torch.long, device=device)
        self.first_bad = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_mask = torch.zeros((), dtype=torch.long, device=device)
        self._bits = torch.tensor([1 << i for i in range(len(self.checked))], device=device)
        self.skipped = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self._static: tuple[Tensor, Tensor | None, Tensor] | None = None

    # --- the step ------------------------------------------------------------------------

    def __call__(self, x: Tensor, y: Tensor | None, noise: Tensor, weight: float = 1.0) -> None:
        """Take one step on a batch with the given noise ``(B, *model.noise_shape)``.

        ``weight`` scales the losses that are differentiated: a rank holding :math:`n_r` of the
        :math:`n` rows of a partial global batch passes :math:`W n_r / n`, so that DDP's mean
        over the W ranks is the gradient of the mean over the n rows (0 for no rows).
        """
        if self.graph is not None and self._static is not None and x.shape == self._static[0].shape:
            static_x, static_y, static_noise = self._static
            static_x.copy_(x, non_blocking=True)
            if static_y is not None and y is not None:
                static_y.copy_(y, non_blocking=True)
            static_noise.copy_(noise, non_blocking=True)
            self.graph.replay()
            return
        self._zero_grad()
        self._body(x, y, noise, weight)

    def _zero_grad(self) -> None:
        for optimizer in self.optimizers.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def _body(self, x: Tensor, y: Tensor | None, noise: Tensor, weight: float = 1.0) -> None:
        out = self.module(as_float(x), y, noise, self.step_t)
        losses = [out.losses[g] for g in self.groups]
        self._backward(losses, weight)
        rows = x.shape[0]
        sums = [loss.detach() * rows if rows else torch.zeros_like(loss) for loss in losses]
        sums += [out.terms[t].detach().sum() for t in self.terms]
        sums.append(self._gradient_check())
        checked = torch.stack(sums)  # a loss is nan for no rows: the mean of nothing
        if self.sync and not self._finite_on_every_rank(checked):
            self._record_bad(checked)
            if self.skip:
                self.skipped += 1
                self.step_t.add_(1)
            return
        for optimizer in self.optimizers.optimizers.values():
            optimizer.step()
        if not self.sync:
            self._record_bad(checked)
        # add_ on the views: ``+=`` on an indexed tensor would also copy the result back
        self.sums[0].add_(rows)
        self.sums[1:].add_(checked[:-1])
        self.step_t.add_(1)

    def _backward(self, losses: list[Tensor], weight: float) -> None:
        """Each group's loss into its own parameters, all before any update."""
        if len(losses) == 1:
            # torch leaves Tensor.backward unannotated
            (losses[0] if weight == 1 else losses[0] * weight).backward()  # type: ignore[no-untyped-call]
            return
        last = len(losses) - 1
        for i, (loss, params) in enumerate(zip(losses, self.groups.values(), strict=True)):
            (loss if weight == 1 else loss * weight).backward(  # type: ignore[no-untyped-call]
                inputs=params, retain_graph=i < last
            )

    def _gradient_check(self) -> Tensor:
        """A value that is finite exactly when every gradient is (a non-finite gradient with a
        finite loss would otherwise reach the weights unseen): the global gradient norm, after
        clipping each group's. On the CPU without clipping it is the sum of the gradients'
        elements instead, which adds where a norm squares and adds; finite gradients' sum
        overflows only where their norm would already have.
        """
        if self.clip is not None:
            norms = [nn.utils.clip_grad_norm_(ps, self.clip) for ps in self.groups.values()]
            return norms[0] if len(norms) == 1 else torch.stack(norms).square().sum().sqrt()
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads or grads[0].device.type != "cpu":  # CUDA: one fused kernel for all
            return nn.utils.get_total_norm(grads)
        return torch.stack(
            [g.sum(dtype=torch.promote_types(g.dtype, torch.float32)) for g in grads]
        ).sum()

    def _finite_on_every_rank(self, checked: Tensor) -> bool:
        """Whether ``checked`` is finite here and on every other rank (synchronises)."""
        if not self.distributed.active:  # one read instead of a chain of small operations
            return all(math.isfinite(v) for v in checked.tolist())
        bad = (~torch.isfinite(checked)).any().to(torch.float32).reshape(1)
        return not bool(self.distributed.all_sum(bad))

    def _record_bad(self, checked: Tensor) -> None:
        """Remember, on the device and in place, the first step with a non-finite value."""
        mask = ((~torch.isfinite(checked)).long() * self._bits).sum()
        first = (self.first_bad < 0) & (mask > 0)
        self.bad_mask.copy_(torch.where(first, mask, self.bad_mask))
        self.first_bad.copy_(torch.where(first, self.step_t, self.first_bad))

    # --- checks and metrics --------------------------------------------------------------

    def nonfinite(self) -> NonFinite | None:
        """The first non-finite step since training began, or None (synchronises)."""
        step = int(self.first_bad)
        if step < 0 or self.skip:
            return None
        mask = int(self.bad_mask)
        names = tuple(n for i, n in enumerate(self.checked) if mask & (1 << i))
        finite = all(bool(torch.isfinite(p).all()) for p in self.params)
        return NonFinite(step, names, finite)

    # --- CUDA graphs ---------------------------------------------------------------------

    def capture(self, x: Tensor, y: Tensor | None, noise: Tensor) -> bool:
        """Capture the step for batches shaped like this one; False (and eager steps) on failure.

        The warm-up steps that capturing needs are undone afterwards (parameters, buffers such
        as a codebook's moving averages, and every optimiser's state restored in place), so a
        captured run takes the same path as an eager one.
        """
        if x.device.type != "cuda" or self.sync:
            return False
        static = (x.clone(), None if y is None else y.clone(), noise.clone())
        saved = _snapshot(self)
        validate = Distribution._validate_args  # argument checks synchronise, which capture forbids
        Distribution.set_default_validate_args(False)
        try:
            side = torch.cuda.Stream()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self._zero_grad()
                    self._body(*static)
            torch.cuda.current_stream().wait_stream(side)
            self._zero_grad()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self._body(*static)
        except Exception as exc:  # capture is an optimisation: fall back to eager steps
            torch.cuda.synchronize()
            _restore(self, saved)
            warnings.warn(
                f"CUDA graph capture failed, training eagerly: {exc}", GenkitWarning, stacklevel=2
            )
            return False
        finally:
            Distribution.set_default_validate_args(validate)
        _restore(self, saved)
        self.graph, self._static = graph, static
        return True


def _optimizer_tensors(step: TrainStep) -> list[Tensor]:
    return [
        t
        for optimizer in step.optimizers.optimizers.values()
        for state in optimizer.state.values()
        for t in state.values()
        if isinstance(t, Tensor)
    ]


def _bookkeeping(step: TrainStep) -> tuple[Tensor, ...]:
    return (step.sums, step.step_t, step.first_bad, step.bad_mask)


def _snapshot(step: TrainStep) -> dict[str, object]:
    return {
        "params": [p.detach().clone() for p in step.params],
        "buffers": [b.clone() for b in step.model.buffers()],
        "optimizer": {id(t): t.clone() for t in _optimizer_tensors(step)},
        "bookkeeping": [t.clone() for t in _bookkeeping(step)],
    }


def _restore(step: TrainStep, saved: dict[str, object]) -> None:
    """Put parameters, buffers, optimiser state and bookkeeping back in place (addresses
    unchanged, so a captured graph keeps pointing at them).
    """
    with torch.no_grad():
        for p, v in zip(step.params, saved["params"], strict=True):  # type: ignore[call-overload]
            p.copy_(v)
        for b, v in zip(step.model.buffers(), saved["buffers"], strict=True):  # type: ignore[call-overload]
            b.copy_(v)
        before: dict[int, Tensor] = saved["optimizer"]  # type: ignore[assignment]
        for t in _optimizer_tensors(step):
            t.copy_(before[id(t)]) if id(t) in before else t.zero_()
        for t, v in zip(_bookkeeping(step), saved["bookkeeping"], strict=True):  # type: ignore[call-overload]
            t.copy_(v)
