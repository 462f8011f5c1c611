"""Atomic outputs: a run builds everything in a staging folder and swaps it in only on success.

The output folder belongs to the job: it is replaced whole. To avoid deleting a folder that
holds anything else (say ``output.dir: .``), a folder is replaced only if it is empty or carries
the marker file a previous run left.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from spine.errors import ConfigError

MARKER = ".spine-output"
CONTRACT_TABLES = ("persons", "links", "attribute_values", "movements", "events", "flows")


def check_output_dir(out: Path) -> None:
    """Refuse to replace a folder that a spine run did not create."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise ConfigError(f"output.dir  {out} exists and was not written by a spine run; "
                          "choose an empty or new folder (the output folder is replaced whole)")


def check_store_location(store: Path, out: Path) -> None:
    """The store sits directly in the output folder or outside it: a store in a subfolder of the
    output folder would be deleted with the folder on every run, and its link history with it."""
    store, out = store.resolve(), out.resolve()
    if out in store.parents and store.parent != out:
        raise ConfigError(f"output.store  {store} is inside a subfolder of the output folder {out}, which every "
                          "run replaces whole; put the store directly in the output folder or outside it")


def staging_dir(out: Path) -> Path:
    """A fresh staging folder beside the output folder (same file system, so rename is atomic)."""
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / MARKER).write_text("written by migration-spine; this folder is replaced on every run\n")
    return staging


def resume_staging(leftover: Path, out: Path) -> Path:
    """Take over a killed run's staging folder (renamed for this process)."""
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    os.replace(leftover, staging)
    return staging


def commit(staging: Path, out: Path) -> None:
    """Swap the staging folder in for the output folder."""
    previous = out.parent / f".{out.name}.previous-{os.getpid()}"
    if out.exists():
        os.replace(out, previous)
    os.replace(staging, out)
    shutil.rmtree(previous, ignore_errors=True)


def commit_file(staged: Path, final: Path) -> None:
    """Move one staged file (a store kept outside the output folder) into place atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)
