"""A TensorBoard workload with every kind of record PyTorch's SummaryWriter
and tensorboardX write, for the fidelity tests and the fidelity benchmark:
two runs of PyTorch (scalars, histograms, images, audio, text at every
step, hparams, a PR curve and a graph, which mida counts as skipped) and
one of tensorboardX (scalars, histograms, images, text).

usage: tb_workload.py LOGDIR [STEPS]
"""

import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

logdir = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
rng = np.random.RandomState(7)


def torch_run(name):
    import torch
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(f"{logdir}/{name}", flush_secs=3600)
    for s in range(steps):
        w.add_scalar("loss", 1.0 / (s + 1), s)
        w.add_scalar("acc", s / steps, s, new_style=True)
        w.add_histogram("weights", rng.randn(500) * (s + 1), s)
        w.add_image("sample", rng.rand(3, 6, 5), s)
        w.add_audio("tone", np.sin(np.arange(400) * (s + 1) / 20.0), s,
                    sample_rate=8000)
        w.add_text("note", f"step {s}: ok", s)
    w.add_pr_curve("pr", rng.randint(0, 2, 20), rng.rand(20), 0)

    class Double(torch.nn.Module):
        def forward(self, x):
            return x * 2

    w.add_graph(Double(), torch.zeros(3))
    w.add_hparams({"lr": 0.01, "opt": "sgd"}, {"hp/final": 0.5})
    w.close()


def tbx_run(name):
    from tensorboardX import SummaryWriter
    w = SummaryWriter(f"{logdir}/{name}", flush_secs=3600)
    for s in range(steps):
        w.add_scalar("loss", 2.0 / (s + 1), s)
        w.add_histogram("bias", rng.randn(200), s)
        w.add_image("frame", rng.rand(3, 4, 4), s)
        w.add_text("log", f"tbx {s}", s)
    w.close()


torch_run("torch-a")
torch_run("torch-b")
tbx_run("tbx")
