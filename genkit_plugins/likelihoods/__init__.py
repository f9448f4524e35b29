"""Built-in likelihoods."""
