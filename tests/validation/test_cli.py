"""``dlra validate`` end to end on a tiny selection: table, report, figures, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import dlra.cli
from validation import cli
from validation import expectations as ex


def _run(tmp_path: Path, *extra: str) -> int:
    return cli.main(
        [
            "--size",
            "tiny",
            "--studies",
            "exactness,symmetry",
            "--methods",
            "ksl,bug,parallel_bug",
            "--out",
            str(tmp_path),
            "--no-progress",
            *extra,
        ]
    )


def test_validate_writes_report_and_passes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "study" in out and "exactness" in out and "symmetry" in out
    assert "0 failed" in out
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# dlra validation report")
    assert "**PASSED**" in report
    assert "| exactness | bug |" in report
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in data["studies"]] == ["exactness", "symmetry"]
    assert all(r["passed"] is not False for s in data["studies"] for r in s["rows"])
    for name in ("exactness.png", "symmetry.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 10_000
        assert f"(figures/{name})" in report


def test_validate_exits_nonzero_on_a_failed_expectation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    # claim (wrongly) that the parallel BUG is exact: the exactness study must fail
    monkeypatch.setattr(ex, "EXACT", ex.EXACT | {"parallel_bug"})
    assert _run(tmp_path) == 1
    assert "FAIL" in capsys.readouterr().out
    assert "**FAILED**" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_list(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in ("order", "exactness", "robustness", "conservation", "ckl22", "kusch24"):
        assert name in out
    # one complete title per study, not a docstring line cut mid-sentence
    assert "  conservation   Norm and energy conservation (T4)\n" in out
    assert "midpoint_bug" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--studies", "nope"], "unknown studies"),
        (["--methods", "rk45"], "unknown methods"),
        (["--device", "cuda"], "--device needs --backend torch"),
    ],
)
def test_bad_arguments(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_dlra_console_script_delegates(capsys: pytest.CaptureFixture) -> None:
    assert dlra.cli.main(["validate", "--list"]) == 0
    assert "studies:" in capsys.readouterr().out
    assert dlra.cli.main([]) == 2
    assert dlra.cli.main(["frobnicate"]) == 2


def test_torch_backend_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    code = cli.main(
        [
            "--size",
            "tiny",
            "--studies",
            "symmetry",
            "--methods",
            "bug,ksl",
            "--backend",
            "torch",
            "--out",
            str(tmp_path),
            "--no-progress",
        ]
    )
    assert code == 0
    assert "backend torch" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_module_entry_point_runs_in_a_subprocess(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlra.cli",
            "validate",
            "--size",
            "tiny",
            "--studies",
            "symmetry",
            "--methods",
            "bug",
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report.md").exists()
