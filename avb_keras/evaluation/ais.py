"""log p(x) by Annealed Importance Sampling (Neal 2001), as in Wu et al. (2017).

AIS moves chains from an initial density p0(z|x) to the posterior
p(z|x) ∝ p(z) p(x|z) through the intermediate densities

    log f_t(z) = (1 - beta_t) log p0(z|x) + beta_t [log p(z) + log p(x|z)],
    0 = beta_0 < beta_1 < ... < beta_T = 1,

with z_0 ~ p0(z|x) and, for t = 1..T, one HMC transition z_{t-1} -> z_t that
leaves f_t invariant. Each chain carries the log-weight

    log w = sum_{t=1..T} [log f_t(z_{t-1}) - log f_{t-1}(z_{t-1})]
          = sum_{t=1..T} (beta_t - beta_{t-1}) [log p(z_{t-1}) + log p(x|z_{t-1})
                                                - log p0(z_{t-1}|x)],

an importance weight on the space of whole chains, so E[w] = p(x) exactly for
any p0 and any number of steps. With C independent chains per example:

    log p^(x) = logsumexp_c log w_c - log C
    ESS       = (sum_c w_c)^2 / sum_c w_c^2
    se        = sd(w) / (sqrt(C) mean(w)) = sqrt((C / ESS - 1) / (C - 1))

(the standard error of log p^ by the delta method; NaN for C = 1). Since
E[p^] = p(x), Jensen's inequality gives E[log p^(x)] <= log p(x): the estimate
is a stochastic lower bound whatever p0, and the gap shrinks as T grows.

Schedules (Wu et al. 2017, appendix): "linear" beta_t = t / T; "sigmoid"
beta_t = (s(t) - s(0)) / (s(T) - s(0)) with s(t) = sigmoid(4 (2t/T - 1)),
which spends more steps near both ends where the densities change fastest.

Initial density p0 (`initial`): by default the Gaussian with the moments of
q(z|x), the model's `moment_matched_gaussian(x)` (a VAE's own Gaussian encoder;
r(z|x) = N(mu(x), sigma(x)^2) for AVB, see `avb_keras.contrast`), or the prior.

HMC step size, adapted without biasing the estimate. The step size eps_t[x]
(one per example and temperature, shared by its chains, which are
exchangeable) moves toward an acceptance rate of 0.65:

    log eps_{t+1} = log eps_t + 0.5 (mean acceptance at t - 0.65).

Adapting a chain's step size from that chain's own past would keep each
transition invariant, but would make the kernel depend on the chain's history,
and E[w] = p(x) would then no longer hold exactly. So the acceptance comes
from `adaptation_chains` extra pilot chains, run in the same loop and
discarded: given the pilot's history, the estimating chains see a fixed
sequence of f_t-invariant kernels, and their weights stay exactly unbiased.

Preconditioning (`precondition=True`). HMC with one step size for every
coordinate mixes slowly in a posterior much narrower in some directions than in
others, or strongly correlated. The chains can instead move in the coordinates

    z = m + L u,   m = E_p0[z],  L L^T = Cov_p0[z]  (Cholesky),

in which a Gaussian p0 becomes N(0, I): HMC in u is HMC in z with the mass
matrix Cov_p0^-1. The Jacobian |det L| is the same at every temperature, so
log f_t(z(u)) - log f_{t-1}(z(u)) is unchanged and the weights stay unbiased.

References:
  R. M. Neal. Annealed importance sampling. Statistics and Computing, 2001.
  Y. Wu, Y. Burda, R. Salakhutdinov, R. Grosse. On the quantitative analysis
  of decoder-based generative models. ICLR 2017.
"""

import dataclasses
import math
import weakref

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from avb_keras.checks import int_at_least, positive_int
from avb_keras.evaluation.common import checked_images, log_joint, stateless_seed
from avb_keras.models.base import tile

tfd = tfp.distributions

#: Acceptance rate the step size is adapted toward.
TARGET_ACCEPTANCE = 0.65
#: Gain of the step-size update on the log scale.
ADAPTATION_RATE = 0.5
#: Bounds of the step size (keeps a flat target from blowing the step up).
STEP_SIZE_RANGE = (1e-5, 10.0)
#: XLA's default. On the project's 2-core CPU (docs/RESULTS.md, "AIS") XLA was about
#: 9x faster for tiny models (loop overhead) but 1.3x slower for an MNIST-sized MLP.
JIT_COMPILE = False


@dataclasses.dataclass(frozen=True)
class AISResult:
    """Per-example AIS results, numpy arrays of shape [batch].

    Attributes:
      log_likelihood: log p^(x) in nats.
      standard_error: its Monte Carlo standard error (delta method; NaN for one chain).
      effective_sample_size: (sum w)^2 / sum w^2 over the chains.
      acceptance_rate: HMC acceptance, averaged over the chains and temperatures.
    """

    log_likelihood: np.ndarray
    standard_error: np.ndarray
    effective_sample_size: np.ndarray
    acceptance_rate: np.ndarray


@dataclasses.dataclass(frozen=True)
class DatasetLogLikelihood:
    """The mean of per-example AIS estimates over a dataset.

    Attributes:
      mean: average log p^(x) in nats.
      standard_error: sd of the per-example estimates / sqrt(num_examples)
        (data sampling and AIS noise together; NaN for one example).
      num_examples: how many examples were evaluated.
    """

    mean: float
    standard_error: float
    num_examples: int


def annealing_schedule(num_steps, schedule="sigmoid"):
    """beta_0 = 0 < ... < beta_T = 1 as a float64 array of T + 1 values."""
    num_steps = positive_int(num_steps, "num_steps")
    t = np.linspace(0.0, 1.0, num_steps + 1)
    if schedule == "linear":
        return t
    if schedule == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-4.0 * (2.0 * t - 1.0)))
        return (s - s[0]) / (s[-1] - s[0])
    raise ValueError(f"schedule must be 'sigmoid' or 'linear'; got {schedule!r}.")


def initial_distribution(model, x, initial=None, num_samples=None, seed=None):
    """p0(z|x) for AIS: a distribution with batch shape [batch] and event [latent_dim].

    Args:
      model: an avb_keras model.
      x: a checked batch of examples (a float tensor).
      initial: None or "encoder" (the Gaussian with q's moments,
        `model.moment_matched_gaussian`), "prior", or a `tfd.Distribution`
        over z with batch shape [batch].
      num_samples: encoder draws behind Monte Carlo moments (default: the model's).
      seed: an int (or a stateless seed pair) making those draws repeatable.
    """
    batch = int(x.shape[0])
    if isinstance(initial, tfd.Distribution):
        expected = ([batch], [model.latent_dim])
        got = (initial.batch_shape.as_list(), initial.event_shape.as_list())
        if got != expected:
            raise ValueError(f"An initial distribution must have batch shape {expected[0]} and "
                             f"event shape {expected[1]}; got {got[0]} and {got[1]}.")
        return initial
    if initial == "prior":
        return tfd.BatchBroadcast(model.prior, [batch])
    if initial not in (None, "encoder"):
        raise ValueError(f"initial must be None, 'prior', 'encoder' or a tfd.Distribution "
                         f"over z; got {initial!r}.")
    return model.moment_matched_gaussian(x, num_samples=num_samples, seed=_int_seed(seed))


def _affine_coordinates(p0, dtype, precondition):
    """(m, L), [batch, latent] and [batch, latent, latent], with z = m + L u the
    coordinates HMC moves in: p0's mean and Cholesky factor when preconditioning,
    else (None, None), HMC in z itself."""
    if not precondition:
        return None, None
    try:
        loc = p0.mean()
        try:
            scale_tril = tf.linalg.cholesky(p0.covariance())
        except NotImplementedError:   # independent coordinates (tfd.Independent)
            scale_tril = tf.linalg.diag(p0.stddev())
    except NotImplementedError as error:
        raise ValueError(f"precondition=True needs an initial distribution with a mean and a "
                         f"covariance or standard deviation; {p0.name} has none "
                         f"({error}).") from None
    return tf.cast(loc, dtype), tf.cast(scale_tril, dtype)


def _int_seed(seed):
    """One int from an int or a stateless pair (None stays None), for the encoder's draws."""
    if seed is None:
        return None
    pair = np.asarray(stateless_seed(seed)).astype(np.int64)
    return int(pair[0] * 1_000_003 + pair[1]) % 2 ** 31


def ais_log_likelihood(model, x, num_chains=16, num_steps=1000, leapfrog_steps=10, seed=None,
                       schedule="sigmoid", initial=None, adaptation_chains=4, step_size=None,
                       precondition=False, jit_compile=JIT_COMPILE):
    """Per-example AIS estimates of log p(x); see the module docstring.

    Args:
      model: an avb_keras model (`prior`, `log_likelihood`; the encoder for p0).
      x: a batch of examples shaped [batch, *model.data_shape], float in the
        likelihood's support.
      num_chains: C, independent estimating chains per example.
      num_steps: T, intermediate densities (one HMC transition each).
      leapfrog_steps: leapfrog steps per HMC transition.
      seed: an int (or a stateless seed pair) for repeatable chains and
        encoder draws behind p0.
      schedule: "sigmoid" or "linear".
      initial: p0; see `initial_distribution`.
      adaptation_chains: pilot chains per example that adapt the step size;
        0 keeps `step_size` fixed.
      step_size: the initial HMC step size; default half the smallest
        standard deviation of p0 (0.5 for the prior; 0.1 if p0 has none;
        0.5 when preconditioned, where p0's coordinates have unit scale).
      precondition: move the chains in the coordinates u = L^-1 (z - m) of p0's
        mean m and covariance L L^T (module docstring), for posteriors that are
        narrow or correlated; p0 needs a mean and a covariance (or stddev).
      jit_compile: compile the annealing loop with XLA: worth it for small
        decoders, where the loop's overhead dominates (about 9x on CPU);
        slower for MNIST-sized MLPs on CPU, hence off by default.

    Returns:
      An `AISResult` of numpy arrays shaped [batch].

    Raises:
      ValueError, TypeError: for a batch of the wrong shape, dtype or values,
        or settings out of range (each message names the expected form).
    """
    num_chains = positive_int(num_chains, "num_chains")
    leapfrog_steps = positive_int(leapfrog_steps, "leapfrog_steps")
    betas = annealing_schedule(num_steps, schedule)
    adaptation_chains = int_at_least(adaptation_chains, 0, "adaptation_chains")
    x = checked_images(model, x)
    p0 = initial_distribution(model, x, initial, seed=seed)
    precondition = bool(precondition)
    if step_size is None and precondition:
        step_size = 0.5
    elif step_size is None:
        try:
            step_size = 0.5 * tf.reduce_min(p0.stddev(), axis=-1)
        except NotImplementedError:  # a user's p0 without a closed-form stddev
            step_size = 0.1
    elif not float(step_size) > 0:
        raise ValueError(f"step_size must be positive; got {step_size!r}.")
    log_step_size = tf.broadcast_to(tf.math.log(tf.cast(step_size, x.dtype)), [x.shape[0]])
    run = _annealing_loop(model, num_chains, adaptation_chains, leapfrog_steps,
                          precondition, bool(jit_compile))
    loc, scale_tril = _affine_coordinates(p0, x.dtype, precondition)
    log_w, acceptance = run(x, p0, loc, scale_tril, tf.constant(betas, x.dtype),
                            log_step_size, stateless_seed(seed))
    return _summarize(log_w.numpy(), acceptance.numpy())


def evaluate_log_likelihood(model, data, batch_size=100, verbose=1, seed=None, **ais_kwargs):
    """The mean AIS log-likelihood over a dataset, streamed batch by batch.

    Args:
      model: an avb_keras model.
      data: a batched `tf.data.Dataset` (of images, (images, labels) or
        {"image": images}) or an array of images, cut into `batch_size` rows.
      batch_size: rows per AIS batch for arrays.
      verbose: 1 shows a `keras.utils.Progbar`; 0 is silent.
      seed: an int; batch i uses the stateless seed (seed, i).
      **ais_kwargs: passed to `ais_log_likelihood` (num_chains, num_steps, ...).

    Returns:
      A `DatasetLogLikelihood`. Memory stays bounded whatever the dataset size:
      only running sums are kept.
    """
    checked = model.checked(data)  # the same form and value checks as fit
    if isinstance(checked, tf.data.Dataset):
        cardinality = int(checked.cardinality())
        batches, target = iter(checked), (cardinality if cardinality > 0 else None)
    else:
        array = np.asarray(checked)
        batch_size = positive_int(batch_size, "batch_size")
        batches = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
        target = math.ceil(len(array) / batch_size)
    progbar = keras.utils.Progbar(target, verbose=verbose, unit_name="batch",
                                  stateful_metrics=["log_likelihood"])
    count, mean, m2 = 0, 0.0, 0.0
    with model.plain_value_errors():  # a bad value read from a dataset: our message
        for i, batch in enumerate(batches):
            batch_seed = None if seed is None else tf.constant([int(seed) % 2 ** 31, i], tf.int32)
            values = ais_log_likelihood(model, model.images(batch), seed=batch_seed,
                                        **ais_kwargs).log_likelihood
            # Chan et al.'s pairwise update of the running mean and sum of squares.
            n, batch_mean = len(values), float(np.mean(values))
            delta = batch_mean - mean
            m2 += float(np.sum((values - batch_mean) ** 2)) + delta ** 2 * count * n / (count + n)
            mean += delta * n / (count + n)
            count += n
            progbar.update(i + 1, [("log_likelihood", mean)])
    se = math.sqrt(m2 / (count - 1) / count) if count > 1 else float("nan")
    return DatasetLogLikelihood(mean=mean, standard_error=se, num_examples=count)


# One compiled loop per model and settings; shapes and the schedule are arguments.
_LOOPS = weakref.WeakKeyDictionary()


def _annealing_loop(model, num_chains, adaptation_chains, leapfrog_steps, precondition,
                    jit_compile):
    key = (num_chains, adaptation_chains, leapfrog_steps, precondition, jit_compile)
    loops = _LOOPS.setdefault(model, {})
    if key not in loops:
        loops[key] = _build_annealing_loop(model, *key)
    return loops[key]


def _build_annealing_loop(model, num_chains, adaptation_chains, leapfrog_steps, precondition,
                          jit_compile):
    pilots = adaptation_chains
    model = weakref.proxy(model)  # the cache must not keep its key (the model) alive

    # The loop is an explicit tf.while_loop, so autograph has nothing to convert; without
    # it the first call traces several times faster (docs/PERFORMANCE.md, AIS).
    @tf.function(jit_compile=jit_compile, reduce_retracing=True, autograph=False)
    def run(x, p0, loc, scale_tril, betas, log_step_size, seed):
        init_seed, seed = tfp.random.split_seed(seed)
        chains = pilots + num_chains
        x_tiled = tile(x, chains)
        z = p0.sample(chains, seed=init_seed)                          # [chains, batch, latent]
        # The chains' state is u, with z = loc + L u when preconditioned, else u = z.
        u = _whitened(z, loc, scale_tril) if precondition else z

        def to_z(u):
            return loc + tf.einsum("bij,cbj->cbi", scale_tril, u) if precondition else u

        def kernel(beta, log_step):
            def log_f(u):
                z = to_z(u)
                return (1.0 - beta) * p0.log_prob(z) + beta * log_joint(model, x_tiled, z)
            return tfp.mcmc.HamiltonianMonteCarlo(
                log_f, step_size=tf.exp(log_step)[None, :, None],
                num_leapfrog_steps=leapfrog_steps)

        def step(t, u, log_f_prev, log_w, log_step, acceptance, seed):
            hmc = kernel(betas[t], log_step)
            results = hmc.bootstrap_results(u)
            # log f_t(z_{t-1}) - log f_{t-1}(z_{t-1}): both come from the HMC results.
            log_w += tf.cast(results.accepted_results.target_log_prob - log_f_prev, tf.float64)
            step_seed, seed = tfp.random.split_seed(seed)
            u, results = hmc.one_step(u, results, seed=step_seed)
            accept = _acceptance(results.log_accept_ratio)
            if pilots:
                log_step = _adapted(log_step, tf.reduce_mean(accept[:pilots], axis=0))
            return (t + 1, u, results.accepted_results.target_log_prob, log_w, log_step,
                    acceptance + accept, seed)

        num_steps = tf.shape(betas)[0] - 1
        shape = tf.shape(z)[:-1]
        _, _, _, log_w, _, acceptance, _ = tf.while_loop(
            lambda t, *_: t <= num_steps, step,
            (tf.constant(1), u, p0.log_prob(z), tf.zeros(shape, tf.float64), log_step_size,
             tf.zeros(shape, z.dtype), seed))
        # Only the estimating chains count; the pilots' weights are discarded.
        return log_w[pilots:], acceptance[pilots:] / tf.cast(num_steps, z.dtype)

    return run


def _whitened(z, loc, scale_tril):
    """u = L^-1 (z - loc) for z [chains, batch, latent] and L [batch, latent, latent]."""
    return tf.transpose(tf.linalg.triangular_solve(
        scale_tril, tf.transpose(z - loc, [1, 2, 0])), [2, 0, 1])


def _acceptance(log_accept_ratio):
    """min(1, exp(ratio)) of each chain's proposal; 0 where the ratio is NaN."""
    return tf.where(tf.math.is_nan(log_accept_ratio), tf.zeros_like(log_accept_ratio),
                    tf.exp(tf.minimum(log_accept_ratio, 0.0)))


def _adapted(log_step, mean_acceptance):
    """log step + rate (the pilots' mean acceptance - target), within STEP_SIZE_RANGE."""
    log_min, log_max = (math.log(v) for v in STEP_SIZE_RANGE)
    return tf.clip_by_value(log_step + ADAPTATION_RATE * (mean_acceptance - TARGET_ACCEPTANCE),
                            log_min, log_max)


def _summarize(log_w, acceptance):
    """AISResult from log-weights and summed acceptances, both [chains, batch]."""
    chains = log_w.shape[0]
    log_sum = np.logaddexp.reduce(log_w, axis=0)
    normalized = np.exp(log_w - log_sum)                  # w_c / sum w, stable
    ess = 1.0 / np.sum(normalized ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.maximum(chains / ess - 1.0, 0.0) / (chains - 1)) if chains > 1 \
            else np.full(log_w.shape[1], np.nan)
    return AISResult(log_likelihood=log_sum - np.log(chains), standard_error=se,
                     effective_sample_size=ess,
                     acceptance_rate=np.mean(acceptance, axis=0).astype(np.float64))
