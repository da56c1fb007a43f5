"""Regenerate the Python code of the wire contract: `python scripts/gen_protos.py` (or `make proto`).

The generated modules live in `tracesvc/v1/` (so their own imports, `tracesvc.v1.*`,
resolve) and are committed; tests/unit/test_contract.py fails when they are stale.
Never edit them by hand. Needs the dev extra (grpcio-tools, pinned for reproducible output).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "proto"
GENERATED_DIR = REPO / "tracesvc" / "v1"


def _include_dirs() -> list[str]:
    import grpc_tools
    from google.rpc import status_pb2  # googleapis-common-protos ships the .proto files

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    googleapis = Path(status_pb2.__file__).parent.parent.parent
    return [str(PROTO_ROOT), str(well_known), str(googleapis)]


def generate(out_dir: Path) -> list[Path]:
    """Run protoc over proto/tracesvc/v1 into out_dir; return the files written."""
    from grpc_tools import protoc

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / "tracesvc" / "v1").glob("*.proto"))
    args = ["protoc", *(f"-I{d}" for d in _include_dirs())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}", *protos]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed")
    return sorted((out_dir / "tracesvc" / "v1").glob("*_pb2*.py*"))


def generated_files() -> dict[str, bytes]:
    """The generated files as protoc writes them now, by file name."""
    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in generate(Path(tmp))}


def main() -> int:
    fresh = generated_files()
    for old in GENERATED_DIR.glob("*_pb2*.py*"):
        if old.name not in fresh:
            old.unlink()
    for name, content in fresh.items():
        (GENERATED_DIR / name).write_bytes(content)
    print(f"wrote {len(fresh)} files to {GENERATED_DIR.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
