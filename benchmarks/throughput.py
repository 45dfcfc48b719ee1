"""Training speed: avb_keras against a plain PyTorch AVB, and against an older commit.

    python benchmarks/throughput.py [--rounds 5] [--seconds 2] [--batches 32 128]
        [--old-tree /tmp/old] [--out benchmarks/results/throughput_vs_pytorch_cpu]

Arms, each a training loop built once and kept alive in a worker process:

- PyTorch (`peer_pytorch.py`, if torch is installed: `pip install .[bench]`):
  plain AVB on the small networks of `peer_networks.py`, its step written as
  public implementations write it ("typical": the primal update, then the
  adversary's on a latent drawn again) and as Algorithm 1 ("algorithm1": one
  forward pass for both updates), at each batch size.
- avb_keras on the same networks, with the package's defaults (its Adam, the
  presets' steps per execution): plain AVB, and AVB with Adaptive Contrast
  whose moments come from K = 16 draws of the implicit encoder per x (the
  Monte Carlo estimator), at each batch size.
- avb_keras's `mnist_mlp` presets (VAE, AVB, AVB+AC with the moment encoder),
  batch 128, as `from_preset(...)` then `compile(steps_per_execution=the
  preset's)` builds them (what `avb-keras train` runs); with `--old-tree`, the
  same presets from the avb_keras of another checkout (the commit before this
  work: `git worktree add /tmp/old f471885`), as it trained then (its
  `compile()`, one step per call); and this checkout's AVB+AC under the
  mixed_bfloat16 policy, for comparison (not a default).

Each round times every arm for about `--seconds`, one worker at a time (the
others wait on a pipe), in alternating order from round to round. For Keras the
clock runs from the end of the first call of the train function to the end of
the last (fit's set-up and the first call left out), for PyTorch from the end
of a first step. Rates are examples per second: per arm the median over the
rounds and its range; per ratio the median of the per-round ratios (both arms
of a ratio timed in the same round) and their range. The dense float32 matmul
rate and the load average are recorded beside them; timings mean something
only on a quiet machine (1-minute load below about 0.3 before the start).

Writes OUT.json (every round's rates) and OUT.md (the tables) and prints them.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from timing import load_average, machine, spread

HERE = Path(__file__).resolve().parent
BATCHES = (32, 128)
PRESET_MODELS = ("VAE", "AVB", "AVB+AC")
#: Targets of issue 15: (arm, baseline arm, least ratio).
TARGETS = (("keras AVB b128", "pytorch typical b128", 1.5),
           ("keras AVB b32", "pytorch typical b32", 1.2),
           ("keras AVB+AC b128", "pytorch typical b128", 1.0),
           ("mnist_mlp AVB+AC b128", "old mnist_mlp AVB+AC b128", 1.5))


# ------------------------------------------------------------------ the workers

class KerasArms:
    """The avb_keras arms of one worker (this checkout's avb_keras, or an older one's)."""

    def __init__(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras

        import avb_keras

        self.keras, self.avb_keras, self.arms = keras, avb_keras, {}

    def add(self, name, spec):
        keras, avb_keras = self.keras, self.avb_keras
        keras.utils.set_random_seed(0)
        spe = getattr(avb_keras.presets, "STEPS_PER_EXECUTION", 1)
        if spec["kind"] == "peer":
            import peer_networks

            model = peer_networks.compiled_avb(spec["model"] == "AVB+AC",
                                               steps_per_execution=spe)
        else:
            # The policy holds while the networks are built (a mixed_bfloat16 arm).
            keras.mixed_precision.set_global_policy(spec.get("precision", "float32"))
            model = self.preset_model(spec["preset"], spec["model"], spec.get("options", {}))
            keras.mixed_precision.set_global_policy("float32")
            spe = getattr(avb_keras.presets.get(spec["preset"]), "steps_per_execution", 1)
            model.compile(steps_per_execution=spe, **spec.get("compile", {}))
        data = avb_keras.datasets.load("mnist_small", "train", batch_size=spec["batch"], seed=0,
                                       repeat=True)
        arm = {"model": model, "data": data, "batch": spec["batch"], "spe": spe}
        self.arms[name] = arm
        model.fit(data, epochs=1, steps_per_epoch=3 * spe, verbose=0)  # traces
        arm["seconds_per_call"] = self._calls(arm, 3)[1] / 2
        return {"steps_per_execution": spe, "jit_compile": bool(model.jit_compile),
                "dtype_policy": model.dtype_policy.name,
                "optimizer": type(model.optimizer).__module__ + "." + type(model.optimizer).__name__,
                "matrix_flops_per_example": self._flops(model, spec["batch"]),
                "avb_keras": os.path.dirname(avb_keras.__file__)}

    def preset_model(self, preset, name, options):
        """VAE, AVB or AVB+AC (diagonal) of `preset`; `options` go to AVB's from_preset."""
        if name == "VAE":
            return self.avb_keras.VAE.from_preset(preset, seed=0)
        return self.avb_keras.AVB.from_preset(
            preset, seed=0, **{"adaptive_contrast": name == "AVB+AC", **options})

    def time(self, name, seconds):
        arm = self.arms[name]
        calls = max(3, round(seconds / arm["seconds_per_call"]))
        steps, elapsed = self._calls(arm, calls)
        arm["seconds_per_call"] = elapsed / (calls - 1)
        return {"examples_per_second": steps * arm["batch"] / elapsed, "steps": calls * arm["spe"]}

    def _calls(self, arm, calls):
        """(steps timed, seconds) of a fit of `calls` calls, the first call left out."""
        from timing import step_clock

        clock = step_clock()
        arm["model"].fit(arm["data"], epochs=1, steps_per_epoch=calls * arm["spe"], verbose=0,
                         callbacks=[clock])
        return (calls - 1) * arm["spe"], clock.ends[-1] - clock.ends[1]

    def _flops(self, model, batch):
        import avb_keras.flops  # (not imported by the package itself)

        try:
            return avb_keras.flops.graph_flops(model, batch)
        except (TypeError, ValueError, AttributeError):  # an older checkout may not count it
            return None

    def matmul(self):
        from timing import matmul_rate

        return {"flops_per_second": matmul_rate()}


class TorchArms:
    """The PyTorch arms (no TensorFlow in this process)."""

    def __init__(self):
        import peer_pytorch

        peer_pytorch.set_threads()
        self.peer, self.arms = peer_pytorch, {}
        self.images = peer_pytorch.train_images()

    def add(self, name, spec):
        import torch

        model = self.peer.PeerAVB(spec["mode"])
        batches = self.peer.Batches(self.images, spec["batch"])
        self.arms[name] = arm = {"model": model, "batches": batches}
        start = time.perf_counter()
        self.peer.examples_per_second(model, batches, 20)
        arm["seconds_per_step"] = (time.perf_counter() - start) / 20
        return {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "mode": spec["mode"]}

    def time(self, name, seconds):
        arm = self.arms[name]
        steps = max(5, round(seconds / arm["seconds_per_step"]))
        arm["model"].step(next(arm["batches"]))
        rate = self.peer.examples_per_second(arm["model"], arm["batches"], steps)
        arm["seconds_per_step"] = arm["batches"].batch_size / rate
        return {"examples_per_second": rate, "steps": steps}


def serve(kind):
    """A worker: one JSON command a line on stdin, one JSON answer a line on stdout."""
    arms = KerasArms() if kind == "keras" else TorchArms()
    out = sys.stdout
    sys.stdout = sys.stderr  # anything else printed must not corrupt the answers
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        answer = getattr(arms, command["cmd"])(*command.get("args", []))
        out.write(json.dumps(answer) + "\n")
        out.flush()
    return 0


class Worker:
    """The parent's handle on a worker process."""

    def __init__(self, kind, pythonpath=None):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), str(HERE)])
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", kind], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def __call__(self, cmd, *args):
        self.process.stdin.write(json.dumps({"cmd": cmd, "args": list(args)}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"A benchmark worker died during {cmd}{args}; see its stderr.")
        return json.loads(line)

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.flush()
        self.process.wait(timeout=60)


# ------------------------------------------------------------------ the parent

def arm_specs(batches, old_tree, with_torch):
    """{arm name: (worker name, spec)} in timing order."""
    arms = {}
    for batch in batches:
        if with_torch:
            for mode in ("typical", "algorithm1"):
                arms[f"pytorch {mode} b{batch}"] = ("torch", {"mode": mode, "batch": batch})
        for model in ("AVB", "AVB+AC"):
            arms[f"keras {model} b{batch}"] = ("keras", {"kind": "peer", "model": model,
                                                         "batch": batch})
    for model in PRESET_MODELS:
        spec = {"kind": "preset", "preset": "mnist_mlp", "model": model, "batch": 128}
        arms[f"mnist_mlp {model} b128"] = ("keras", spec)
        if old_tree:
            arms[f"old mnist_mlp {model} b128"] = ("old", spec)
    # Not a default: the networks in bfloat16 (densities and variables float32).
    arms["mnist_mlp AVB+AC b128 bf16"] = ("keras", {
        "kind": "preset", "preset": "mnist_mlp", "model": "AVB+AC", "batch": 128,
        "precision": "mixed_bfloat16"})
    return arms


def run_rounds(workers, arms, rounds, seconds):
    """{arm: [examples/s per round]} and the load average before each round."""
    rates, loads = {name: [] for name in arms}, []
    order = list(arms)
    for r in range(rounds):
        loads.append(load_average())
        for name in (order if r % 2 == 0 else order[::-1]):
            worker, _ = arms[name]
            rates[name].append(workers[worker]("time", name, seconds)["examples_per_second"])
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{name} {values[-1]:.0f}" for name, values in rates.items()), flush=True)
    return rates, loads


def ratio(rates, arm, baseline):
    """Per-round ratios arm / baseline: {"median", "min", "max"}."""
    return spread([a / b for a, b in zip(rates[arm], rates[baseline])])


def tables(result):
    """The markdown tables and the targets."""
    rates = {name: spread(values) for name, values in result["rates"].items()}
    raw = result["rates"]

    def cell(name):
        r = rates.get(name)
        return f"{r['median']:.0f} ({r['min']:.0f}-{r['max']:.0f})" if r else "-"

    def ratio_cell(arm, baseline):
        if arm not in raw or baseline not in raw:
            return "-"
        r = ratio(raw, arm, baseline)
        return f"{r['median']:.2f}x ({r['min']:.2f}-{r['max']:.2f})"

    lines = [("Same networks (784+4 -> 128 -> 10 encoder, 10 -> 128 -> 784 decoder, "
              "794 -> 128 -> 1 adversary), examples/s, median (range) over the rounds:"), "",
             ("| batch | PyTorch typical | PyTorch Algorithm 1 | avb_keras AVB | vs typical "
              "| vs Algorithm 1 | avb_keras AVB+AC (K=16) | AC vs PyTorch typical |"),
             "|---|---|---|---|---|---|---|---|"]
    for batch in result["batches"]:
        t, a = f"pytorch typical b{batch}", f"pytorch algorithm1 b{batch}"
        k, ac = f"keras AVB b{batch}", f"keras AVB+AC b{batch}"
        lines.append(f"| {batch} | {cell(t)} | {cell(a)} | {cell(k)} | {ratio_cell(k, t)} "
                     f"| {ratio_cell(k, a)} | {cell(ac)} | {ratio_cell(ac, t)} |")
    lines += ["", "`mnist_mlp` presets, batch 128, examples/s:", "",
              "| model | this checkout | old checkout | ratio |", "|---|---|---|---|"]
    for model in PRESET_MODELS:
        new, old = f"mnist_mlp {model} b128", f"old mnist_mlp {model} b128"
        lines.append(f"| {model} | {cell(new)} | {cell(old)} | {ratio_cell(new, old)} |")
    bf16, base = "mnist_mlp AVB+AC b128 bf16", "mnist_mlp AVB+AC b128"
    if bf16 in raw:
        lines += ["", f"AVB+AC with --mixed-precision mixed_bfloat16 (not a default): {cell(bf16)}"
                      f", {ratio_cell(bf16, base)} float32's"
                      + (f", {ratio_cell(bf16, 'old ' + base)} the old checkout's"
                         if "old " + base in raw else "")]
    lines += ["", "Targets (per-round ratio, median):", ""]
    for arm, baseline, least in TARGETS:
        if arm in raw and baseline in raw:
            got = ratio(raw, arm, baseline)["median"]
            verdict = "met" if got >= least else f"missed by {least - got:.2f}"
            lines.append(f"- {arm} / {baseline}: {got:.2f}x (target {least}x): {verdict}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="timed training per arm and round (default 2)")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--old-tree", type=Path, default=None,
                        help="a checkout whose avb_keras gives the 'old' preset arms")
    parser.add_argument("--out", type=Path,
                        default=Path("benchmarks/results/throughput_vs_pytorch_cpu"))
    parser.add_argument("--worker", choices=("keras", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return serve(args.worker)

    try:
        import torch  # noqa: F401  (only whether it is there)
        with_torch = True
    except ImportError:
        with_torch = False
        print("torch is not installed (pip install .[bench]): no PyTorch arms.")
    load_before = load_average()
    workers = {"keras": Worker("keras")}
    if with_torch:
        workers["torch"] = Worker("torch")
    if args.old_tree:
        workers["old"] = Worker("keras", pythonpath=args.old_tree.resolve())
    try:
        arms = arm_specs(args.batches, args.old_tree, with_torch)
        settings = {name: workers[w]("add", name, spec) for name, (w, spec) in arms.items()}
        matmul = [workers["keras"]("matmul")["flops_per_second"]]
        rates, loads = run_rounds(workers, arms, args.rounds, args.seconds)
        matmul.append(workers["keras"]("matmul")["flops_per_second"])
    finally:
        for worker in workers.values():
            worker.close()
    result = {"command": "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:]),
              "machine": machine(), "load_average_before": load_before,
              "load_average_per_round": loads, "load_average_after": load_average(),
              "matmul_flops_per_second": matmul, "batches": args.batches,
              "seconds_per_arm": args.seconds, "settings": settings, "rates": rates}
    text = tables(result)
    text += (f"\n\nDense float32 matmul (4096^3), before and after: "
             f"{', '.join(f'{m / 1e9:.0f}' for m in matmul)} GFLOP/s. 1-minute load average: "
             f"{load_before:.2f} before, {result['load_average_after']:.2f} after.\n")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    args.out.with_suffix(".md").write_text(
        f"Command: `{result['command']}` ({result['machine']})\n\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
