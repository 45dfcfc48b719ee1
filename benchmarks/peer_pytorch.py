"""A plain PyTorch AVB training loop, as a PyTorch user writes it: the speed baseline.

    python benchmarks/peer_pytorch.py [--batch 128] [--steps 300] [--mode typical]

The networks of `peer_networks.SIZES` (the kind public PyTorch AVB code uses):

    Q(x, eps): Linear(784 + 4, 128), ReLU, Linear(128, 10)          z = Q([x, eps])
    P(z):      Linear(10, 128), ReLU, Linear(128, 784)               Bernoulli logits
    T(x, z):   Linear(784 + 10, 128), ReLU, Linear(128, 1)           on concat(x, z)

Plain AVB (no Adaptive Contrast, no prior term in T), Adam(1e-3) for each
player, one adversary update per primal update:

    primal:     min E[ -log p(x|z) + T(x, z) ],  z = Q([x, eps])   (T fixed)
    adversary:  min E[ softplus(-T(x, z_q)) + softplus(T(x, z_p)) ],  z_p ~ N(0, I)

-log p(x|z) is the binary cross-entropy with logits, summed over the pixels of
an example; every loss is a mean over the batch.

Two ways to write the step (`mode`):

- "typical" (the baseline of the targets): what public implementations do.
  The primal update first; then the adversary update on a latent drawn again
  by the updated encoder (under `torch.no_grad()`, the same eps) against a
  prior draw: two encoder passes, three T passes and two backward passes.
- "algorithm1": the paper's Algorithm 1, as avb_keras runs it. One forward
  pass (z, P(z), T on the q-sample and on the prior sample); each player's
  gradient is taken of its own loss with `torch.autograd.grad`, then both
  optimizers step.

The data are the images of the packaged MNIST subset held as one tensor,
reshuffled every epoch and dynamically binarized (a Bernoulli draw per pixel
at every read), batches taken by indexing: no DataLoader overhead.
`torch.set_num_threads(os.cpu_count())`.

torch is an optional extra of the benchmarks (`pip install .[bench]`, see
setup.py), never needed by the package or its tests.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from peer_networks import LEARNING_RATE, SIZES
from torch import nn
from torch.nn import functional as F

MODES = ("typical", "algorithm1")


def networks():
    """(Q, P, T) as torch modules, sized by `SIZES`."""
    pixels = int(np.prod(SIZES["data_shape"]))
    hidden, latent, noise = SIZES["hidden"], SIZES["latent_dim"], SIZES["noise_dim"]
    encoder = nn.Sequential(nn.Linear(pixels + noise, hidden), nn.ReLU(),
                            nn.Linear(hidden, latent))
    decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels))
    adversary = nn.Sequential(nn.Linear(pixels + latent, hidden), nn.ReLU(),
                              nn.Linear(hidden, 1))
    return encoder, decoder, adversary


class PeerAVB:
    """The two players, their Adam optimizers and one training step."""

    def __init__(self, mode="typical", seed=0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {mode!r}.")
        torch.manual_seed(seed)
        self.mode = mode
        self.encoder, self.decoder, self.adversary = networks()
        self.primal_params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.adversary_params = list(self.adversary.parameters())
        self.primal_opt = torch.optim.Adam(self.primal_params, lr=LEARNING_RATE)
        self.adversary_opt = torch.optim.Adam(self.adversary_params, lr=LEARNING_RATE)

    def T(self, x, z):
        return self.adversary(torch.cat([x, z], 1)).squeeze(1)

    def primal_loss(self, x, z, t_q):
        reconstruction = F.binary_cross_entropy_with_logits(
            self.decoder(z), x, reduction="none").sum(1)
        return (reconstruction + t_q).mean()

    @staticmethod
    def adversary_loss(t_q, t_p):
        return (F.softplus(-t_q) + F.softplus(t_p)).mean()

    def step(self, x):
        """One primal and one adversary update on the batch x [batch, 784]."""
        eps = torch.randn(x.shape[0], SIZES["noise_dim"])
        z_p = torch.randn(x.shape[0], SIZES["latent_dim"])
        if self.mode == "typical":
            z = self.encoder(torch.cat([x, eps], 1))
            loss = self.primal_loss(x, z, self.T(x, z))
            self.primal_opt.zero_grad()
            loss.backward()
            self.primal_opt.step()
            with torch.no_grad():
                z_q = self.encoder(torch.cat([x, eps], 1))
            self.adversary_opt.zero_grad()
            self.adversary_loss(self.T(x, z_q), self.T(x, z_p)).backward()
            self.adversary_opt.step()
            return
        z = self.encoder(torch.cat([x, eps], 1))
        t_q = self.T(x, z)
        primal = torch.autograd.grad(self.primal_loss(x, z, t_q), self.primal_params,
                                     retain_graph=True)
        adversary = torch.autograd.grad(self.adversary_loss(t_q, self.T(x, z_p)),
                                        self.adversary_params)
        for params, grads in ((self.primal_params, primal), (self.adversary_params, adversary)):
            for p, g in zip(params, grads):
                p.grad = g
        self.primal_opt.step()
        self.adversary_opt.step()


class Batches:
    """Endless shuffled, dynamically binarized batches of the training images."""

    def __init__(self, images, batch_size, seed=0):
        self.images = torch.from_numpy(np.asarray(images, np.float32))
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = None, len(self.images)

    def __next__(self):
        if self.position + self.batch_size > len(self.images):
            self.order = torch.randperm(len(self.images), generator=self.generator)
            self.position = 0
        rows = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return torch.bernoulli(self.images[rows], generator=self.generator)


def train_images():
    """The packaged MNIST subset's training images in [0, 1], [N, 784] (read without
    importing avb_keras, so that this process holds no TensorFlow)."""
    path = Path(__file__).resolve().parents[1] / "avb_keras" / "datasets" / "mnist_small.npz"
    with np.load(path) as data:
        return data["x_train"].reshape(-1, 784).astype(np.float32) / 255.0


def set_threads():
    """Every core for PyTorch's intra-op pool."""
    torch.set_num_threads(os.cpu_count())


def examples_per_second(model, batches, steps):
    """Examples/s over `steps` steps."""
    start = time.perf_counter()
    for _ in range(steps):
        model.step(next(batches))
    return steps * batches.batch_size / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--mode", choices=MODES, default="typical")
    args = parser.parse_args(argv)
    set_threads()
    model, batches = PeerAVB(args.mode), Batches(train_images(), args.batch)
    examples_per_second(model, batches, 20)  # warm-up
    rate = examples_per_second(model, batches, args.steps)
    print(f"PyTorch {torch.__version__} AVB ({args.mode}), batch {args.batch}, "
          f"{torch.get_num_threads()} threads: {rate:.0f} examples/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
