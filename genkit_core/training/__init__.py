"""Training: batches, the step, checkpoints, data parallelism, and the one Trainer."""

from .checkpoint import Position, load_checkpoint, save_checkpoint
from .trainer import Trainer, TrainingInterrupted, TrainResult

__all__ = [
    "Position",
    "TrainResult",
    "Trainer",
    "TrainingInterrupted",
    "load_checkpoint",
    "save_checkpoint",
]
