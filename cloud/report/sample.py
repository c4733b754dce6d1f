"""Regenerate docs/sample-report.pdf and its first page as a PNG from the committed sample log.

    .venv/bin/python -m cloud.report.sample [--bench docs/sample-bench-results.json]

It runs exactly what a user would: `iotpipe etl --from samples/demo-1day.parquet` into a temporary warehouse, then
`iotpipe report` for the sample's day, then `pdftoppm` (poppler-utils) for the PNG.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "demo-1day.parquet"
CONFIG = REPO / "deploy" / "home.example.toml"
DAY = "2026-11-02"  # the sample's local day (samples/README.md)
PDF = REPO / "docs" / "sample-report.pdf"
PNG = REPO / "docs" / "sample-report-page1.png"
BENCH = REPO / "docs" / "sample-bench-results.json"


def iotpipe(*args: str) -> None:
    """Run one `iotpipe` command, stopping on failure."""
    subprocess.run([sys.executable, "-m", "iotpipe", "--config", str(CONFIG), *args], check=True, cwd=REPO)


def first_page_png(pdf: Path, png: Path, dpi: int = 80) -> None:
    """The PDF's first page as a PNG, with poppler's pdftoppm."""
    if shutil.which("pdftoppm") is None:
        raise SystemExit("pdftoppm not found: apt-get install -y poppler-utils")
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(png.with_suffix(""))], check=True)


def main() -> None:
    """Load the sample into a temporary warehouse, build the report, render its first page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bench", type=Path, default=BENCH, help="bench results for the performance section")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sample-report-") as tmp:
        db = ("--db-url", f"sqlite:///{Path(tmp) / 'warehouse.db'}", "--var", tmp)
        iotpipe(*db, "etl", "--from", str(SAMPLE), "--no-progress")
        bench = ("--bench", str(args.bench)) if args.bench.exists() else ()
        iotpipe(*db, "report", "--from", DAY, "--to", DAY, "--out", str(PDF), *bench)
    first_page_png(PDF, PNG)
    print(f"wrote {PDF.relative_to(REPO)} and {PNG.relative_to(REPO)}")


if __name__ == "__main__":
    main()
