"""prepare.py -- the data preparation of the demo: a Dask workflow that
turns synthetic atomic structures into normalised descriptor shards.

An ordinary Dask script (it does not import mida): under `mida run` every
task of its graph is recorded, with its arguments, its result and the
files it writes.

    python prepare.py OUT --variants r4-zscore:4.0:12:zscore,... \
        [--shards 4] [--structures 150] [--atoms 20]

For each shard a seed gives a set of random binary-alloy structures in a
periodic box (positions and species); for each preprocessing variant
(cutoff radius, histogram bins, normalisation) each shard's structures
become descriptors: per species pair, a histogram of the interatomic
distances under the cutoff, plus the composition; the target is the
structure's energy per atom under a Lennard-Jones pair potential. A
variant's normaliser is fitted on all of its shards, then each normalised
shard is written to OUT/<variant>/shard-<k>.npz (x, y), and the task that
wrote it returns the file's path.
"""

import argparse
import os
import pathlib

import numpy as np
import dask
from dask.distributed import Client, LocalCluster

PAIRS = ((0, 0), (0, 1), (1, 1))   # species pairs of a binary alloy
EPSILON = {(0, 0): 1.0, (0, 1): 1.5, (1, 1): 0.7}   # LJ well depths
SIGMA = 1.0


def generate_structures(seed, n_structures, n_atoms, density):
    """Random structures: positions in a cubic periodic box, species 0/1."""
    rng = np.random.default_rng(seed)
    box = (n_atoms / density) ** (1 / 3)
    positions = rng.uniform(0.0, box, size=(n_structures, n_atoms, 3))
    fraction = rng.uniform(0.2, 0.8, size=(n_structures, 1))
    species = (rng.uniform(size=(n_structures, n_atoms)) < fraction)
    return {"positions": positions, "species": species.astype(np.int8),
            "box": box}


def _distances(structures):
    pos, box = structures["positions"], structures["box"]
    d = pos[:, :, None, :] - pos[:, None, :, :]
    d -= box * np.round(d / box)        # minimum image
    r = np.sqrt((d * d).sum(-1))
    n = r.shape[1]
    r[:, np.arange(n), np.arange(n)] = np.inf
    return r


def compute_descriptors(structures, cutoff, n_bins):
    """Pair-distance histograms under cutoff, composition, LJ energy."""
    r = _distances(structures)
    sp = structures["species"]
    si, sj = sp[:, :, None], sp[:, None, :]
    edges = np.linspace(0.5, cutoff, n_bins + 1)
    feats = []
    energy = np.zeros(r.shape[0])
    for a, b in PAIRS:
        mask = ((si == a) & (sj == b)) | ((si == b) & (sj == a))
        for k in range(n_bins):
            inside = mask & (r >= edges[k]) & (r < edges[k + 1])
            feats.append(inside.sum(axis=(1, 2)) / r.shape[1])
        rr = np.where(mask & (r < 2.5 * SIGMA), np.maximum(r, 0.8), np.inf)
        s6 = (SIGMA / rr) ** 6
        energy += 0.5 * (4 * EPSILON[(a, b)] * (s6 * s6 - s6)).sum(axis=(1, 2))
    feats.append(sp.mean(axis=1))
    x = np.stack(feats, axis=1).astype(np.float32)
    y = (energy / r.shape[1]).astype(np.float32)
    return {"x": x, "y": y}


def fit_normaliser(method, *descriptors):
    """Statistics of a variant's descriptors, over all its shards."""
    x = np.concatenate([d["x"] for d in descriptors])
    if method == "zscore":
        return {"shift": x.mean(0), "scale": x.std(0) + 1e-6}
    return {"shift": x.min(0), "scale": x.max(0) - x.min(0) + 1e-6}


def write_shard(descriptors, normaliser, path):
    """Writes one normalised shard; returns its path."""
    x = (descriptors["x"] - normaliser["shift"]) / normaliser["scale"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, x=x.astype(np.float32), y=descriptors["y"])
    os.replace(tmp, path)
    return path


def parse_variants(text):
    """name:cutoff:bins:method,... -> list of dicts."""
    out = []
    for item in text.split(","):
        name, cutoff, bins, method = item.split(":")
        out.append({"name": name, "cutoff": float(cutoff),
                    "n_bins": int(bins), "method": method})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--variants", required=True)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--structures", type=int, default=150)
    ap.add_argument("--atoms", type=int, default=20)
    ap.add_argument("--density", type=float, default=0.8)
    args = ap.parse_args()
    out = pathlib.Path(args.out).resolve()

    gen = dask.delayed(generate_structures, pure=True)
    desc = dask.delayed(compute_descriptors, pure=True)
    fit = dask.delayed(fit_normaliser, pure=True)
    write = dask.delayed(write_shard, pure=True)

    structures = [gen(1000 + k, args.structures, args.atoms, args.density)
                  for k in range(args.shards)]
    shards = []
    for v in parse_variants(args.variants):
        d = [desc(s, v["cutoff"], v["n_bins"]) for s in structures]
        norm = fit(v["method"], *d)
        shards += [write(d[k], norm, str(out / v["name"] /
                                         f"shard-{k}.npz"))
                   for k in range(args.shards)]

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, \
            Client(cluster) as client:
        paths = client.compute(shards, sync=True)
    for p in paths:
        print(p)


if __name__ == "__main__":
    main()
