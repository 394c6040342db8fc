"""Embed-stage throughput vs the bare model forward, same batches, same process.

    python benchmarks/embed_throughput.py --dataset lfw --model facenet [--limit 1024]

Needs the faces and weights stages' outputs (data/faces/<dataset>, data/models/<model>).
Prints images/s of (a) the bare ``module(x)`` on pre-made input tensors and (b) the embed
stage's own loop (DataLoader over the memory-mapped crops + preprocessing + forward +
L2-normalisation), and their ratio (target ≥ 0.8); then (c) the bare forward in the
contiguous NCHW layout the stage used before it kept module and inputs channels-last, its
speed ratio and the largest difference of the L2-normalised embeddings (issue 16: ≥ 1.5×
overall, equal within 1e-5).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from facecluster.config import load_params
from facecluster.embed.extract import embed_batches, make_loader
from facecluster.embed.models import load_embedder
from facecluster.paths import ProjectPaths
from facecluster.stages.faces import read_crops, read_manifest
from facecluster.stages.weights import read_weights


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--dataset", default="lfw")
    ap.add_argument("--model", default="facenet")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--limit", type=int, default=1024, help="number of faces (0 = all)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    params = load_params(args.params)
    paths = ProjectPaths.from_root()
    spec = params.model(args.model)
    weights = read_weights(args.model, params, paths)
    emb = load_embedder(args.model, spec, weights.path, weights.sha256, params.execution.device)
    man = read_manifest(paths, args.dataset)
    rows = man.loc[man["status"] == "ok", "crop_index"].sort_values().to_numpy()
    if args.limit:
        rows = rows[: args.limit]
    crops = read_crops(paths, args.dataset, emb.crop_family)
    bs = params.execution.embed_batch_size
    inputs = [emb.inputs(np.asarray(crops[rows[i : i + bs]])) for i in range(0, len(rows), bs)]

    @torch.inference_mode()
    def bare(layout: torch.memory_format = torch.channels_last) -> np.ndarray:
        emb.module.to(memory_format=layout)
        out = [emb.module(x.contiguous(memory_format=layout)) for x in inputs]
        emb.module.to(memory_format=torch.channels_last)
        return torch.nn.functional.normalize(torch.cat(out).float(), dim=1).cpu().numpy()

    def stage() -> None:
        embed_batches(
            emb, make_loader(crops, rows, bs, params.execution.num_workers), progress=False
        )

    bare()  # warm-up
    t_bare, t_stage = [], []
    for _ in range(args.repeats):  # interleaved, best of N
        t0 = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stage()
        t_stage.append(time.perf_counter() - t0)
    n = len(rows)
    ips_bare, ips_stage = n / min(t_bare), n / min(t_stage)
    print(
        f"model {args.model} on {emb.device}, {n} faces of {args.dataset}, batch {bs}, torch threads {torch.get_num_threads()}"
    )
    print(f"bare forward : {ips_bare:8.1f} images/s")
    print(f"embed stage  : {ips_stage:8.1f} images/s")
    print(f"ratio        : {ips_stage / ips_bare:8.3f}  (target >= 0.8)")

    nchw = torch.contiguous_format
    bare(nchw)  # warm-up
    t_nchw, t_last = [], []
    for _ in range(args.repeats):  # interleaved, best of N
        t0 = time.perf_counter()
        z_nchw = bare(nchw)
        t_nchw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        z_last = bare()
        t_last.append(time.perf_counter() - t0)
    ips_nchw, ips_last = n / min(t_nchw), n / min(t_last)
    print(f"bare NCHW    : {ips_nchw:8.1f} images/s  (the layout before)")
    print(f"bare NHWC    : {ips_last:8.1f} images/s  (channels-last, the stage's)")
    print(f"layout ratio : {ips_last / ips_nchw:8.3f}")
    print(f"max |dz|     : {np.abs(z_last - z_nchw).max():.2e}  (L2-normalised embeddings)")


if __name__ == "__main__":
    main()
