"""train.py -- the training of the demo: a small PyTorch model that
predicts a structure's energy from its descriptors, logged to MLflow and
TensorBoard as any training script does (it does not import mida).

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db \
    python train.py SHARD_DIR --lr 0.01 --hidden 32 --epochs 20 \
        --logdir runs --out models

Reads SHARD_DIR/shard-*.npz (the last shard validates, the others train),
logs each shard as an MLflow dataset input (its file path is the source),
the hyperparameters as MLflow params and TensorBoard hparams, every
epoch's training and validation loss to both, saves the model
(OUT/<run>.pt, also an MLflow artifact) and the validation predictions
(OUT/<run>.predictions.csv: index, true and predicted energy per atom).
"""

import argparse
import os
import pathlib

import numpy as np
import mlflow
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter


def load(path):
    with np.load(path) as f:
        return f["x"], f["y"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shards")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--experiment", default="materials-energy")
    ap.add_argument("--logdir", default="runs")
    ap.add_argument("--out", default="models")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)          # a small model: one thread is faster
    shard_dir = pathlib.Path(args.shards).resolve()
    files = sorted(shard_dir.glob("shard-*.npz"))
    if len(files) < 2:
        raise SystemExit(f"train.py: need at least 2 shards in {shard_dir}")
    variant = shard_dir.name
    run_name = f"{variant}-lr{args.lr:g}-h{args.hidden}"

    mlflow.set_experiment(args.experiment)
    with mlflow.start_run(run_name=run_name):
        params = {"variant": variant, "lr": args.lr, "hidden": args.hidden,
                  "epochs": args.epochs, "batch": args.batch,
                  "seed": args.seed}
        mlflow.log_params(params)
        parts = []
        for i, f in enumerate(files):
            x, y = load(f)
            context = "validation" if i == len(files) - 1 else "training"
            mlflow.log_input(mlflow.data.from_numpy(
                x, targets=y, source=str(f), name=f"{variant}/{f.stem}"),
                context=context)
            parts.append((x, y))
        xt = torch.tensor(np.concatenate([p[0] for p in parts[:-1]]))
        yt = torch.tensor(np.concatenate([p[1] for p in parts[:-1]]))
        xv, yv = (torch.tensor(a) for a in parts[-1])

        model = nn.Sequential(nn.Linear(xt.shape[1], args.hidden), nn.SiLU(),
                              nn.Linear(args.hidden, args.hidden), nn.SiLU(),
                              nn.Linear(args.hidden, 1))
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        loss_fn = nn.MSELoss()
        writer = SummaryWriter(os.path.join(args.logdir, run_name))
        best = float("inf")
        for epoch in range(args.epochs):
            model.train()
            order = torch.randperm(len(xt))
            total = 0.0
            for b in range(0, len(xt), args.batch):
                idx = order[b:b + args.batch]
                opt.zero_grad()
                loss = loss_fn(model(xt[idx]).squeeze(1), yt[idx])
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            with torch.no_grad():
                pred = model(xv).squeeze(1)
                val = loss_fn(pred, yv).item()
                mae = (pred - yv).abs().mean().item()
            metrics = {"train_loss": total / len(xt), "val_loss": val,
                       "val_mae": mae}
            mlflow.log_metrics(metrics, step=epoch)
            for k, v in metrics.items():
                writer.add_scalar(k, v, epoch)
            writer.flush()
            best = min(best, val)

        writer.add_hparams(params, {"hparam/best_val_loss": best},
                           run_name=".")
        writer.close()
        out = pathlib.Path(args.out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        model_path = out / f"{run_name}.pt"
        torch.save(model.state_dict(), model_path)
        mlflow.log_artifact(str(model_path))
        with open(out / f"{run_name}.predictions.csv", "w") as f:
            f.write("index,energy,predicted\n")
            for i, (t, p) in enumerate(zip(yv.tolist(), pred.tolist())):
                f.write(f"{i},{t:.6f},{p:.6f}\n")
        print(f"{run_name}: best val_loss {best:.5f}")


if __name__ == "__main__":
    main()
