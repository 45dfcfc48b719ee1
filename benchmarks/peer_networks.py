"""The small AVB networks of public PyTorch implementations, for avb_keras.

    encoder    Q(x, eps): [flatten(x), eps] (784 + 4) -> 128 ReLU -> 10,  eps ~ N(0, I_4)
    decoder    P(z):      10 -> 128 ReLU -> 784 Bernoulli logits (sigmoid -> the mean)
    adversary  T(x, z):   [flatten(x), z] (794) -> 128 ReLU -> 1  (no prior term)

`benchmarks/peer_pytorch.py` builds the same networks in PyTorch from the same
sizes (`SIZES`); `benchmarks/throughput.py` trains both on the same data.
Keras is imported inside the builders, so that the PyTorch process can read
`SIZES` without loading TensorFlow.
"""

#: Layer widths shared with the PyTorch baseline.
SIZES = {"data_shape": (28, 28, 1), "noise_dim": 4, "hidden": 128, "latent_dim": 10}
#: Adam's rate for every player, and its first-moment decay (PyTorch's default).
LEARNING_RATE, BETA_1 = 1e-3, 0.9


def encoder(seed=None):
    """z = W_2 relu(W_1 [flatten(x), eps] + b_1) + b_2, eps ~ N(0, I_noise_dim)."""
    import keras

    from avb_keras import networks

    x = keras.Input(SIZES["data_shape"], name="x")
    flat = keras.layers.Flatten()(x)
    eps = networks.StandardNormalNoise(SIZES["noise_dim"], seed=seed, name="eps")(flat)
    h = keras.layers.Dense(SIZES["hidden"], activation="relu", name="hidden_1")(
        keras.layers.Concatenate()([flat, eps]))
    return keras.Model(x, keras.layers.Dense(SIZES["latent_dim"], name="z")(h), name="encoder")


def avb(adaptive_contrast=False, moment_samples=16, seed=0):
    """AVB on the peer networks (implicit encoder; Monte Carlo moments with AC)."""
    from avb_keras import AVB, networks

    return AVB(encoder(seed),
               networks.mlp_decoder(SIZES["latent_dim"], SIZES["data_shape"],
                                    hidden_units=(SIZES["hidden"],), activation="relu"),
               networks.ConcatAdversary(hidden_units=(SIZES["hidden"],), name="adversary"),
               adaptive_contrast=adaptive_contrast, moment_estimator="monte_carlo",
               moment_samples=moment_samples, seed=seed)


def compiled_avb(adaptive_contrast=False, **compile_kwargs):
    """`avb(...)` compiled with the package's Adam(1e-3, beta_1 = 0.9) for both players."""
    from avb_keras import optimizers

    model = avb(adaptive_contrast)
    model.compile(optimizer=optimizers.Adam(LEARNING_RATE, beta_1=BETA_1),
                  adversary_optimizer=optimizers.Adam(LEARNING_RATE, beta_1=BETA_1),
                  **compile_kwargs)
    return model
