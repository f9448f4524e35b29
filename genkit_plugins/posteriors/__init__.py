"""Built-in posteriors: the variational families q(z|x)."""
