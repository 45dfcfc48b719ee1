from setuptools import find_packages, setup

setup(
    name="avb_keras",
    version="0.1.0",
    description="Adversarial Variational Bayes (Mescheder et al., ICML 2017) in Keras 3 on TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # The pretrained presets (saved_models/presets/NAME/: config, weights, metadata) ship
    # inside the wheel as avb_keras/pretrained_presets/ (see avb_keras/pretrained.py).
    packages=find_packages(include=["avb_keras", "avb_keras.*"]) + ["avb_keras.pretrained_presets"],
    package_dir={"avb_keras.pretrained_presets": "saved_models/presets"},
    package_data={"avb_keras.datasets": ["*.npz"],
                  "avb_keras.pretrained_presets": ["*/*.json", "*/*.h5"]},
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.10,<4",
        "tensorflow-probability==0.25.*",
        "tf-keras==2.21.*",  # tensorflow-probability does not import without it
        "tensorboard",
        "matplotlib",  # the figures of examples/
        "tensorflow-serving-api==2.21.*",  # PredictRequest protos for the request helper
        "numpy",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis", "selenium>=4.10"],
        # The PyTorch baseline of benchmarks/throughput.py only; never needed by the package
        # or its tests. From PyPI this pulls a CUDA build of several GB; for the CPU build
        # install its wheel first, e.g. pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-
        # manylinux_2_28_x86_64.whl (or --index-url https://download.pytorch.org/whl/cpu).
        "bench": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["avb-keras=avb_keras.cli:main"]},
)
