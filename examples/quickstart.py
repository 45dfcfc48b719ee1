"""The README's API example as a script: AVB+AC on the packaged MNIST subset.

    python examples/quickstart.py --epochs 5

Prints the validation metrics after training and the shapes of encode / decode /
sample. Runs on CPU in about 5 s an epoch (2 cores).
"""

import argparse

import numpy as np

from avb_keras import AVB, datasets


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--latent-dim", type=int, default=32)
    args = parser.parse_args()

    train = datasets.load("mnist_small", "train", batch_size=128, seed=0)
    valid = datasets.load("mnist_small", "valid", batch_size=128, seed=1)

    model = AVB.from_preset("mnist_mlp", latent_dim=args.latent_dim, seed=0)
    model.compile()
    model.fit(train, validation_data=valid, epochs=args.epochs)

    x = next(iter(valid))
    z = model.encode(x)
    reconstruction = model.decode(z)
    samples = model.sample(16, seed=0)
    print(f"encode: {tuple(z.shape)}, decode: {tuple(reconstruction.shape)}, "
          f"sample: {tuple(samples.shape)}")
    print(f"mean pixel of 16 samples: {float(np.mean(samples)):.3f}")
    for name, value in model.evaluate(valid, return_dict=True, verbose=0).items():
        print(f"{name:>20s}: {value:.3f}")


if __name__ == "__main__":
    main()
