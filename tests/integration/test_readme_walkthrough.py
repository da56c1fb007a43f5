"""The README's walk-through, run verbatim: its shell blocks between the walkthrough markers, taken
from README.md, in a fresh directory with nothing configured, as a newcomer would type them.

Only the gRPC port is chosen here (TRACESVC_LISTEN, so parallel test runs do not collide); the data
directory, the target and the key are what the README's own commands set up.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- walkthrough:begin -->", "<!-- walkthrough:end -->"


def walkthrough_blocks(text: str) -> list[str]:
    section = text.split(BEGIN, 1)[1].split(END, 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_walkthrough_has_blocks_and_uses_only_commands_of_this_project():
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2
    for line in "".join(blocks).splitlines():
        command = line.split("#", 1)[0].strip()
        if command and not command.startswith(("export ", "FLAG=", "INS=", "CASE=", "printf ", "kill ")):
            assert command.startswith(".venv/bin/"), f"not a command the set-up installs: {line}"


@pytest.mark.slow
def test_the_readme_walkthrough_runs_verbatim_on_a_fresh_directory(tmp_path: Path):
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    (tmp_path / ".venv").symlink_to(sys.prefix)  # the set-up's `.venv` in the clone
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACESVC_") and k != "DATABASE_URL"}
    env["TRACESVC_LISTEN"] = f"127.0.0.1:{_free_port()}"
    outputs = []
    for n, block in enumerate(blocks, 1):
        # A failed step stops the block; a service it started is stopped whatever happens.
        script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + block
        proc = subprocess.Popen(
            ["bash", "-c", script],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        assert proc.returncode == 0, f"block {n} failed ({proc.returncode}):\n{out}\n{err}"
        assert "Traceback" not in out + err, f"block {n}:\n{err}"
        outputs.append(out)

    first, nhsa = outputs
    assert re.search(r"^  STORED +[\d,]+$", first, re.M)
    assert re.search(r"^import all\.ndjson: ([\d,]+) events acknowledged", first, re.M)
    [(n_again,)] = [m.groups() for m in re.finditer(r"^import all\.ndjson: ([\d,]+) events", first, re.M)]
    assert re.search(rf"^  DUPLICATE +{n_again}$", first, re.M), "the re-import stored nothing twice"
    assert "REENTRY" in (tmp_path / "evidence.html").read_text(encoding="utf-8")
    assert "RING" in first  # the case suggestions lead with a return-drug ring
    # The inspector's case: officers by name, the flags reviewed on closing, roles, a verified file.
    assert "执法证号 11010020230001" in first and "REVIEWED" in first and "原销售机构" in first
    assert "case.pdf: OK" in first
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "case.pdf"), "-"], check=True, capture_output=True, text=True
        ).stdout
        for shown in ("回流入库", "REENTRY", "Asia/Shanghai", "inspection.txt", "承办人", "审核人"):
            assert shown in text, shown
    flags = [re.search(r"run 1 FULL DONE: .*?(\d+) new flags", out).group(1) for out in (first, nhsa)]  # type: ignore[union-attr]
    assert flags[0] == flags[1] and int(flags[0]) > 0, "the NHSA month gives the proto month's flags"
    assert (tmp_path / "problems.txt").read_text() == ""
    assert (tmp_path / ".tracesvc").is_dir() and (tmp_path / ".tracesvc-nhsa").is_dir()
