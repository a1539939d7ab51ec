"""Observing training: per-timestep gradient norms recorded by the BPTT engine."""

from rnnkit.diagnostics.hidden_grads import HiddenGradRecord, record_hidden_grads

__all__ = ["HiddenGradRecord", "record_hidden_grads"]
