"""Evaluation of trained models: exact log-likelihood for 2-d latents by quadrature."""

from avb_keras.evaluation.quadrature import latent_grid, quadrature_log_likelihood

__all__ = ["latent_grid", "quadrature_log_likelihood"]
