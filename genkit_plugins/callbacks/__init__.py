"""Built-in callbacks: what acts during a training run."""
