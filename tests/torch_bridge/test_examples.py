"""Tiny runs of the torch_bridge examples (the full runs are documented in docs/torch_bridge.md)."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "torch_bridge"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"tb_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_from_scratch_example():
    results = _load("from_scratch").main(["--steps", "5"])
    assert set(results) == {
        "dense, SGD",
        "U Vᵀ rank 4, SGD",
        "DLRT, rtol 0.05",
        "parallel BUG, rtol 0.05",
    }
    assert all(0 <= err < 1 for err, _ in results.values())  # 5 steps already reduce the error


def test_finetune_example():
    results = _load("finetune").main(["--steps", "5"])
    assert results["merged"] == pytest.approx(results["adapters"], abs=1e-6)


def test_conv_example():
    results = _load("conv").main(["--steps", "5"])
    assert set(results) == {"dense", "matrix", "tucker"}


def test_ddp_example():
    # a subprocess: the spawned workers must import the example by its file name
    script = EXAMPLES / "ddp.py"
    out = subprocess.run(
        [sys.executable, str(script), "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    line = out.stdout.strip().splitlines()[-1]
    ranks = eval(line.split(":", 1)[1])
    assert len(ranks) == 2 and ranks[0] == ranks[1]


def test_benchmark_quick_run():
    from benchmarks.torch_bridge.run import main

    pytest.importorskip("peft")
    results = main(["--quick", "--only", "teacher", "finetune-teacher"])
    assert [r["task"] for r in results] == ["teacher", "finetune-teacher"]
    for task in results:
        counts = [row["backward_per_step"] for row in task["rows"]]
        assert all(c in (1, 2) for c in counts)
