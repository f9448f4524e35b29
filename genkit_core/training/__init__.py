"""Training: batches, the step, checkpoints, data parallelism, and the one Trainer."""

from .checkpoint import Position, load_checkpoint, save_checkpoint
from .results import TrainingInterrupted, TrainResult
from .trainer import Trainer

__all__ = [
    "Position",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "load_checkpoint",
    "save_checkpoint",
]
