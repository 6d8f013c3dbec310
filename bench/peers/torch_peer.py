"""PyTorch (CPU) peer for bench/train_bench.py.

Run with /usr/bin/python3: Debian's python3-torch 1.13 only works with
Debian's numpy, not inside the venv. Trains the benchmark's MLP or CNN with
Adam(1e-3) and sparse categorical cross-entropy plus an accuracy count per
step (what Keras's fit computes), from pre-shuffled in-memory tensors (no
DataLoader overhead: torch's fastest plain loop). Prints one JSON line.
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn

from fashion_data import load_train


def build(model):
    if model == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
            nn.Linear(128, 10))
    # Conv2D 32 3x3 relu -> MaxPool -> Conv2D 64 3x3 relu -> MaxPool -> Flatten
    # -> Dropout 0.5 -> Dense 10; NCHW, torch's native layout.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(1600, 10))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", choices=["mlp", "cnn"], required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--steps", type=int, required=True)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    n = (args.warmup_steps + args.steps) * args.batch
    x_np, y_np = load_train(n)
    x = torch.from_numpy(x_np)
    if args.model == "cnn":
        x = x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
    y = torch.from_numpy(y_np)

    model = build(args.model)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # Keras's default betas/eps differ only in eps (1e-7)

    def step(i):
        xb = x[i * args.batch:(i + 1) * args.batch]
        yb = y[i * args.batch:(i + 1) * args.batch]
        opt.zero_grad(set_to_none=True)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        return loss.detach(), (logits.detach().argmax(1) == yb).sum()

    for i in range(args.warmup_steps):
        step(i)
    correct = 0
    start = time.perf_counter()
    for i in range(args.warmup_steps, args.warmup_steps + args.steps):
        loss, c = step(i)
        correct += int(c)
    seconds = time.perf_counter() - start
    print(json.dumps({
        "peer": "pytorch", "model": args.model, "threads": args.threads, "steps": args.steps,
        "batch": args.batch, "seconds": seconds,
        "samples_per_s": args.steps * args.batch / seconds,
        "final_loss": float(loss), "accuracy": correct / (args.steps * args.batch),
        "version": torch.__version__}))


if __name__ == "__main__":
    main()
