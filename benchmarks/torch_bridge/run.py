"""torch_bridge benchmark: training from scratch and fine-tuning, every method side by side.

    python -m benchmarks.torch_bridge.run            # full run (a few minutes on 2 cores)
    python -m benchmarks.torch_bridge.run --quick    # smoke run (seconds)
    python -m benchmarks.torch_bridge.run --write-docs   # also rewrite the results in docs

Tasks (no downloads):

* ``teacher``: the teacher–student problem of :func:`torch_bridge.problems.teacher_student`
  (hidden layer of rank 4), full batch, regression; metric: relative test error.
* ``digits``: an MLP 64-128-128-10 trained from scratch on scikit-learn's digits, mini-batches
  of 64; the two hidden layers low-rank; metric: test accuracy.
* ``finetune-teacher``: a pretrained 2-layer network whose target differs by a rank-2 change of
  its first layer; adapters on both layers; metric: relative test error (true adapter ranks 2, 0).
* ``finetune-digits``: an MLP pretrained on digits, fine-tuned on the digits shifted by one pixel
  (right and down); adapters on all three layers; metric: test accuracy on the shifted digits.

Fine-tuning compares full fine-tuning, peft LoRA, peft AdaLoRA (``update_and_allocate`` called
after every step, its orthogonality regularizer added to the loss as peft does for models that
return a loss) and :func:`torch_bridge.get_dlra_model` trained by :class:`torch_bridge.ParallelBUG`.
Learning rates were chosen per method as the best test result of a small grid on these tasks
(full fine-tuning: 3e-4 … 1e-2; LoRA, AdaLoRA: 3e-3 … 1e-1; our adapters: lr 1e-2 … 1e-1 and rtol
0.02 … 0.2, Euler and Adam substeps), listed in the output.  From scratch, every method uses the
same learning rate.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
from typing import Any

import torch
from torch import nn

import torch_bridge as tb
from torch_bridge.problems import digits, teacher_student

from .harness import Trainer, run_round_robin

F64 = torch.float64
DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "torch_bridge.md")
RESULTS = os.path.join(os.path.dirname(__file__), "results.json")


def _sgd(params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([p for p in params if p.requires_grad], lr)


# --------------------------------------------------------------------------------------------
# from scratch
# --------------------------------------------------------------------------------------------


def task_teacher(steps: int) -> dict[str, Any]:
    problem = teacher_student()
    lr = 2.0

    def student(first: nn.Module) -> nn.Module:
        return problem.student(first)

    def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(out, y)

    def make(name: str, first: nn.Module, opt_fn: Any, closure: bool = False) -> Trainer:
        model = student(first)
        trainable = [p for p in model.parameters() if p.requires_grad]
        return Trainer(
            name,
            model,
            opt_fn(trainable),
            mse,
            needs_closure=closure,
            ranks=lambda m=model: list(tb.ranks(m).values()) or "—",
        )

    trainers = []
    torch.manual_seed(2)
    trainers.append(make("dense (SGD)", nn.Linear(32, 32, dtype=F64), lambda p: _sgd(p, lr)))
    torch.manual_seed(2)
    trainers.append(
        make("U Vᵀ rank 4 (SGD)", tb.FactorizedLinear(32, 32, 4, dtype=F64), lambda p: _sgd(p, lr))
    )
    torch.manual_seed(2)
    trainers.append(
        make(
            "fixed-rank BUG rank 4",
            tb.LowRankLinear(32, 32, 4, dtype=F64),
            lambda p: tb.FixedRankParallelBUG(p, lr),
        )
    )
    torch.manual_seed(2)
    trainers.append(
        make(
            "DLRT (augmented BUG), rtol 0.05",
            tb.LowRankLinear(32, 32, 8, dtype=F64),
            lambda p: tb.AugmentedBUG(p, lr, rtol=0.05),
            closure=True,
        )
    )
    torch.manual_seed(2)
    trainers.append(
        make(
            "parallel BUG, rtol 0.05",
            tb.LowRankLinear(32, 32, 8, dtype=F64),
            lambda p: tb.ParallelBUG(p, lr, rtol=0.05),
        )
    )
    rows = run_round_robin(trainers, lambda k: (problem.x_train, problem.y_train), steps)
    for row, t in zip(rows, trainers, strict=True):
        row["metric"] = problem.relative_error(t.model)
    return {
        "title": "From scratch: teacher–student, hidden layer of rank 4",
        "metric": "relative test error",
        "setup": f"full batch 1024, {steps} steps, lr {lr} for every method, float64; "
        "adaptive methods start at rank 8",
        "rows": rows,
    }


class MLP(nn.Module):
    def __init__(self, fc1: nn.Module, fc2: nn.Module, fc3: nn.Module) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = fc1, fc2, fc3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _batches(x: torch.Tensor, y: torch.Tensor, batch: int, seed: int = 0) -> Any:
    n = len(y)
    per_epoch = n // batch
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)

    def get(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal perm
        j = k % per_epoch
        if j == 0 and k > 0:
            perm = torch.randperm(n, generator=g)
        idx = perm[j * batch : (j + 1) * batch]
        return x[idx], y[idx]

    return get


def task_digits(steps: int) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = digits()
    ce = nn.functional.cross_entropy
    lr, rank = 0.1, 16

    def mlp(kind: str, rank: int) -> MLP:
        torch.manual_seed(0)
        if kind == "dense":
            layers = [nn.Linear(64, 128), nn.Linear(128, 128)]
        elif kind == "uv":
            layers = [tb.FactorizedLinear(64, 128, rank), tb.FactorizedLinear(128, 128, rank)]
        else:
            layers = [tb.LowRankLinear(64, 128, rank), tb.LowRankLinear(128, 128, rank)]
        return MLP(*layers, nn.Linear(128, 10))

    def make(name: str, model: MLP, opt: Any, closure: bool = False) -> Trainer:
        return Trainer(
            name,
            model,
            opt,
            ce,
            needs_closure=closure,
            ranks=lambda m=model: list(tb.ranks(m).values()) or "—",
        )

    m = [mlp("dense", 0), mlp("uv", rank), mlp("lr", rank), mlp("lr", 32), mlp("lr", 32)]
    trainers = [
        make("dense (SGD)", m[0], _sgd(m[0].parameters(), lr)),
        make(f"U Vᵀ rank {rank} (SGD)", m[1], _sgd(m[1].parameters(), lr)),
        make(f"fixed-rank BUG rank {rank}", m[2], tb.FixedRankParallelBUG(m[2].parameters(), lr)),
        make(
            "DLRT (augmented BUG), rtol 0.15",
            m[3],
            tb.AugmentedBUG(m[3].parameters(), lr, rtol=0.15),
            closure=True,
        ),
        make("parallel BUG, rtol 0.15", m[4], tb.ParallelBUG(m[4].parameters(), lr, rtol=0.15)),
    ]
    rows = run_round_robin(trainers, _batches(x_train, y_train, 64), steps)
    for row, t in zip(rows, trainers, strict=True):
        row["metric"] = _accuracy(t.model, x_test, y_test)
    return {
        "title": "From scratch: digits MLP 64-128-128-10 (hidden layers low-rank)",
        "metric": "test accuracy",
        "setup": f"batch 64, {steps} steps ({steps * 64 / len(y_train):.0f} epochs), lr {lr}, "
        "float32; adaptive methods start at rank 32",
        "rows": rows,
    }


# --------------------------------------------------------------------------------------------
# fine-tuning
# --------------------------------------------------------------------------------------------


def _peft_trainers(
    base_fn: Any,
    targets: list[str],
    loss_fn: Any,
    steps: int,
    lrs: dict[str, float],
    lora_r: int,
    ada: tuple[int, int],
) -> list[Trainer]:
    from peft import AdaLoraConfig, LoraConfig, get_peft_model

    trainers = []
    full = base_fn()
    trainers.append(
        Trainer(
            "full fine-tuning (Adam)",
            full,
            torch.optim.Adam(full.parameters(), lrs["full"]),
            loss_fn,
        )
    )

    lora = get_peft_model(
        base_fn(), LoraConfig(target_modules=targets, r=lora_r, lora_alpha=lora_r)
    )
    trainers.append(
        Trainer(
            f"peft LoRA r={lora_r} (AdamW)",
            lora,
            torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lrs["lora"]),
            loss_fn,
            ranks=lambda: [lora_r] * len(targets),
        )
    )

    init_r, target_r = ada
    config = AdaLoraConfig(
        target_modules=targets,
        init_r=init_r,
        target_r=target_r,
        lora_alpha=init_r,
        tinit=steps // 10,
        tfinal=steps // 5,
        deltaT=5,
        total_step=steps,
    )
    ada_model = get_peft_model(base_fn(), config)
    inner = ada_model.base_model

    def orth_reg() -> torch.Tensor:
        # peft adds this only to model outputs that carry a .loss; we add it ourselves
        terms = []
        for name, p in inner.model.named_parameters():
            if "lora_A" in name or "lora_B" in name:
                cov = p @ p.T if "lora_A" in name else p.T @ p
                terms.append(torch.norm(cov - torch.eye(cov.shape[0], dtype=cov.dtype), p="fro"))
        return config.orth_reg_weight * torch.stack(terms).mean()

    def ada_ranks() -> list[int]:
        return [int((m.lora_E["default"] != 0).sum()) for m in _adalora_layers(inner)]

    def ada_active() -> int:
        total = 0
        for m in _adalora_layers(inner):
            r = int((m.lora_E["default"] != 0).sum())
            total += r * (m.lora_A["default"].shape[1] + m.lora_B["default"].shape[0] + 1)
        return total

    def ada_state() -> int:
        alloc = inner.rankallocator
        return sum(
            t.numel() for d in (alloc.ipt, alloc.exp_avg_ipt, alloc.exp_avg_unc) for t in d.values()
        )

    trainers.append(
        Trainer(
            f"peft AdaLoRA r {init_r}→{target_r} (AdamW)",
            ada_model,
            torch.optim.AdamW(
                [p for p in ada_model.parameters() if p.requires_grad], lrs["adalora"]
            ),
            loss_fn,
            after_step=lambda k: inner.update_and_allocate(k),
            extra_loss=orth_reg,
            ranks=ada_ranks,
            active_parameters=ada_active,
            extra_state=ada_state,
            note="update_and_allocate every step",
        )
    )

    ours = tb.get_dlra_model(
        base_fn(), tb.DLRAConfig(target_modules=targets, r=lrs["ours_r"], rtol=lrs["ours_rtol"])
    )
    trainers.append(
        Trainer(
            f"DLRA adapters r₀={lrs['ours_r']}, rtol {lrs['ours_rtol']} (ParallelBUG)",
            ours,
            ours.make_optimizer(lr=lrs["ours"], substep=lrs.get("ours_substep", "euler")),
            loss_fn,
            ranks=lambda: list(ours.ranks().values()),
        )
    )
    return trainers


def _adalora_layers(inner: Any) -> list[Any]:
    return [m for m in inner.model.modules() if hasattr(m, "lora_E") and "default" in m.lora_E]


class TwoLayer(nn.Module):
    def __init__(self, n_in: int, n_hidden: int, n_out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden, dtype=F64)
        self.fc2 = nn.Linear(n_hidden, n_out, dtype=F64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(x)))


def task_finetune_teacher(steps: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    pretrained = TwoLayer(32, 48, 48)
    target = TwoLayer(32, 48, 48)
    target.load_state_dict(pretrained.state_dict())
    a = torch.linalg.qr(torch.randn(48, 2, generator=g, dtype=F64))[0]
    b = torch.linalg.qr(torch.randn(32, 2, generator=g, dtype=F64))[0]
    with torch.no_grad():
        target.fc1.weight.add_(a @ torch.diag(torch.tensor([2.0, 1.0], dtype=F64)) @ b.mT)
    x_train = torch.randn(1024, 32, generator=g, dtype=F64)
    x_test = torch.randn(1024, 32, generator=g, dtype=F64)
    with torch.no_grad():
        y_train, y_test = target(x_train), target(x_test)

    def base() -> TwoLayer:
        m = TwoLayer(32, 48, 48)
        m.load_state_dict(pretrained.state_dict())
        return m

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return 0.5 * (out - y).pow(2).sum(1).mean()

    lrs = {
        "full": 1e-2,
        "lora": 3e-2,
        "adalora": 3e-2,
        "ours": 3e-2,
        "ours_r": 8,
        "ours_rtol": 0.1,
        "ours_substep": "adam",
    }
    trainers = _peft_trainers(base, ["fc1", "fc2"], loss, steps, lrs, lora_r=8, ada=(8, 2))
    rows = run_round_robin(trainers, lambda k: (x_train, y_train), steps)
    scale = (y_test - y_test.mean(0)).pow(2).sum()
    for row, t in zip(rows, trainers, strict=True):
        with torch.no_grad():
            row["metric"] = float((t.model(x_test) - y_test).pow(2).sum() / scale)
    with torch.no_grad():
        before = float((pretrained(x_test) - y_test).pow(2).sum() / scale)
    return {
        "title": "Fine-tuning: change of rank 2 in the first layer (adapters on both layers)",
        "metric": "relative test error",
        "setup": f"full batch 1024, {steps} steps, float64; before fine-tuning: {before:.3g}; "
        f"lr: {lrs}",
        "rows": rows,
    }


def _shift(x: torch.Tensor) -> torch.Tensor:
    """Digits (standardized, flattened 8×8) moved one pixel right and down (zeros enter)."""
    img = x.reshape(-1, 8, 8)
    out = torch.full_like(img, float(img.min()))
    out[:, 1:, 1:] = img[:, :-1, :-1]
    return out.reshape(-1, 64)


def task_finetune_digits(steps: int, pretrain_steps: int) -> dict[str, Any]:
    x_train, y_train, x_test, y_test = digits()
    torch.manual_seed(0)
    pretrained = MLP(nn.Linear(64, 128), nn.Linear(128, 128), nn.Linear(128, 10))
    opt = torch.optim.SGD(pretrained.parameters(), 0.1)
    get = _batches(x_train, y_train, 64, seed=1)
    for k in range(pretrain_steps):
        xb, yb = get(k)
        opt.zero_grad()
        nn.functional.cross_entropy(pretrained(xb), yb).backward()
        opt.step()
    xs_train, xs_test = _shift(x_train), _shift(x_test)
    before = _accuracy(pretrained, xs_test, y_test)
    original = _accuracy(pretrained, x_test, y_test)

    def base() -> MLP:
        m = MLP(nn.Linear(64, 128), nn.Linear(128, 128), nn.Linear(128, 10))
        m.load_state_dict(pretrained.state_dict())
        return m

    lrs = {
        "full": 3e-3,
        "lora": 1e-2,
        "adalora": 1e-2,
        "ours": 3e-2,
        "ours_r": 8,
        "ours_rtol": 0.1,
        "ours_substep": "adam",
    }
    trainers = _peft_trainers(
        base, ["fc1", "fc2", "fc3"], nn.functional.cross_entropy, steps, lrs, lora_r=8, ada=(8, 4)
    )
    rows = run_round_robin(trainers, _batches(xs_train, y_train, 64, seed=2), steps)
    for row, t in zip(rows, trainers, strict=True):
        row["metric"] = _accuracy(t.model, xs_test, y_test)
    return {
        "title": "Fine-tuning: digits MLP pretrained on digits, tuned on digits shifted by 1 pixel",
        "metric": "test accuracy (shifted)",
        "setup": f"batch 64, {steps} steps, float32; pretrained model: {original:.3f} on the "
        f"original test digits, {before:.3f} on the shifted ones; lr: {lrs}",
        "rows": rows,
    }


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


def _table(task: dict[str, Any]) -> str:
    rows = task["rows"]
    t0 = rows[0]["step_time_s"]
    lines = [
        f"### {task['title']}",
        "",
        task["setup"] + ".",
        "",
        f"| method | {task['metric']} | time/step vs first row | backward passes/step | "
        "params allocated (trainable) | params active | optimizer state | final ranks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        metric = r["metric"]
        metric_s = f"{metric:.3g}" if metric < 0.1 or "error" in task["metric"] else f"{metric:.3f}"
        lines.append(
            f"| {r['method']} | {metric_s} | {r['step_time_s'] / t0:.2f}× | "
            f"{r['backward_per_step']:.0f} | {r['params_allocated']:,} ({r['params_trainable']:,}) | "
            f"{r['params_active']:,} | {r['optimizer_state']:,} | {r['ranks']} |"
        )
    lines.append("")
    lines.append(f"First-row time per step: {t0 * 1e3:.2f} ms.")
    return "\n".join(lines)


def environment() -> str:
    import peft
    import sklearn

    cpu = platform.processor() or platform.machine()
    return (
        f"{datetime.date.today().isoformat()}; {platform.system()} {platform.machine()} ({cpu}), "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}; Python "
        f"{platform.python_version()}, torch {torch.__version__}, peft {peft.__version__}, "
        f"scikit-learn {sklearn.__version__}"
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/torch_bridge.md")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--only", nargs="*", help="task names to run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    scale = 0.05 if args.quick else 1.0
    tasks = {
        "teacher": lambda: task_teacher(max(12, int(300 * scale))),
        "digits": lambda: task_digits(max(12, int(600 * scale))),
        "finetune-teacher": lambda: task_finetune_teacher(max(12, int(300 * scale))),
        "finetune-digits": lambda: task_finetune_digits(
            max(12, int(300 * scale)), max(12, int(600 * scale))
        ),
    }
    results = []
    for name, fn in tasks.items():
        if args.only and name not in args.only:
            continue
        res = fn()
        res["task"] = name
        results.append(res)
        print(_table(res), "\n", flush=True)
    env = environment()
    print(env)
    if not args.quick:
        with open(RESULTS, "w") as f:
            json.dump({"environment": env, "tasks": results}, f, indent=1, default=str)
    if args.write_docs:
        _write_docs(results, env)
    return results


def _write_docs(results: list[dict[str, Any]], env: str) -> None:
    text = open(DOCS).read()
    body = "\n\n".join(_table(r) for r in results)
    block = f"<!-- results:start -->\nMeasured {env}.\n\n{body}\n<!-- results:end -->"
    new = re.sub(
        r"<!-- results:start -->.*<!-- results:end -->", lambda m: block, text, flags=re.DOTALL
    )
    with open(DOCS, "w") as f:
        f.write(new)


if __name__ == "__main__":
    main(sys.argv[1:])
