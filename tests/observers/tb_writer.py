"""Writes TensorBoard event files with a real writer, for the observer
tests and benchmarks.

usage: tb_writer.py KIND LOGDIR STEPS [FLUSH_EVERY] [PAUSE_S]

KIND: torch (torch.utils.tensorboard.SummaryWriter: "loss" as simple_value,
"acc" as a float tensor (new_style), "lr" as a double tensor, hparams and
text), tbx (tensorboardX.SummaryWriter: simple_value), tb (TensorBoard's
own tensorboard.summary.Writer: float_val tensors). Values: loss = 1/(s+1),
acc = s/STEPS, lr = 0.1 * 0.99**s. Prints "flushed S" after each flush.
"""

import sys
import time
import warnings

warnings.filterwarnings("ignore")

kind, logdir, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
every = int(sys.argv[4]) if len(sys.argv) > 4 else steps
pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0


def values(s):
    return 1.0 / (s + 1), s / steps, 0.1 * 0.99 ** s


if kind == "torch":
    from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(logdir, flush_secs=3600)
    w.add_text("note", "observer test", 0)
    for s in range(steps):
        loss, acc, lr = values(s)
        w.add_scalar("loss", loss, s)
        w.add_scalar("acc", acc, s, new_style=True)
        w.add_scalar("lr", lr, s, new_style=True, double_precision=True)
        if (s + 1) % every == 0:
            w.flush()
            print(f"flushed {s}", flush=True)
        if pause:
            time.sleep(pause)
    w.add_hparams({"lr0": 0.1, "opt": "sgd", "bn": True},
                  {"hparam/loss": loss}, run_name="hp")
    w.close()
elif kind == "tbx":
    import tensorboardX
    w = tensorboardX.SummaryWriter(logdir, flush_secs=3600)
    for s in range(steps):
        loss, acc, lr = values(s)
        w.add_scalar("loss", loss, s)
        if (s + 1) % every == 0:
            w.flush()
            print(f"flushed {s}", flush=True)
        if pause:
            time.sleep(pause)
    w.close()
elif kind == "tb":
    import numpy as np
    from tensorboard.summary import Writer
    w = Writer(logdir)
    for s in range(steps):
        loss, acc, lr = values(s)
        w.add_scalar("loss", np.float64(loss), s)
        if (s + 1) % every == 0:
            w.flush()
            print(f"flushed {s}", flush=True)
        if pause:
            time.sleep(pause)
    w.close()
else:
    sys.exit(f"unknown writer {kind}")
