"""Stopping when training goes non-finite: find where, on every rank alike, and say it."""

from __future__ import annotations

import torch

from .distributed import Distributed
from .step import NonFinite, TrainStep

__all__ = ["agreed_nonfinite"]


def agreed_nonfinite(step: TrainStep, dist: Distributed) -> tuple[NonFinite, str] | None:
    """The first non-finite value the step met and where (``" on rank 1"`` under torchrun), or
    None; every rank gets the same answer, so that all stop together or none does.
    """
    problem, where = step.nonfinite(), ""
    if dist.active:  # every rank must stop together, or the others would hang
        flag = torch.tensor([float(problem is not None)], device=dist.device)
        if float(dist.all_sum(flag)) > 0:
            # the lowest rank that found one, preferring a term: DDP's all-reduce spreads a
            # non-finite gradient to every rank, but the term shows where it began
            in_a_term = problem is not None and set(problem.names) - {"loss", "gradient"}
            rank, found = dist.first(problem if in_a_term else None)
            rank, problem = (rank, found) if found else dist.first(problem)
            where = f" on rank {rank}"
    return None if problem is None else (problem, where)
