"""Evaluation of trained models: log-likelihood by AIS, the IWAE bound, exact
quadrature for 2-d latents, an adversary-free lower bound on the KL, and the
rule by which an AIS estimate counts as converged."""

from avb_keras.evaluation.ais import (AISResult, DatasetLogLikelihood, ais_log_likelihood,
                                      annealing_schedule, evaluate_log_likelihood,
                                      initial_distribution)
from avb_keras.evaluation.convergence import CONVERGED_NATS, check_difference
from avb_keras.evaluation.iwae import iwae_bound
from avb_keras.evaluation.kl_bound import KLBound, kl_lower_bound
from avb_keras.evaluation.linear_gaussian import linear_gaussian
from avb_keras.evaluation.quadrature import latent_grid, quadrature_log_likelihood

__all__ = ["AISResult", "CONVERGED_NATS", "DatasetLogLikelihood", "KLBound",
           "ais_log_likelihood", "annealing_schedule", "check_difference",
           "evaluate_log_likelihood", "initial_distribution", "iwae_bound", "kl_lower_bound",
           "latent_grid", "linear_gaussian", "quadrature_log_likelihood"]
