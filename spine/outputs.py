"""Outputs a run owns, written so that nothing is lost: one run at a time, a commit that cannot
leave the output folder missing, and a manifest of what the job wrote.

A run builds everything in a staging folder beside the output folder and swaps it in only on
success. The swap is journalled: a run killed in the middle of it is finished by the next start
(``recover``), so at every instant either the previous outputs or the new ones are in place.
The output folder belongs to one job and holds only what that job wrote (its manifest); a folder
holding anything else is refused before anything runs, never replaced.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from spine.errors import ConfigError, SpineError, UsageError

if TYPE_CHECKING:
    from spine.config import JobConfig

MARKER = ".spine-output"
CONTRACT_TABLES = ("persons", "links", "attribute_values", "movements", "events", "flows")
#: umask of a run by ``output.permissions``: the store holds the sources' personal data.
UMASKS = {"private": 0o077, "group": 0o027}
_SHOWN = 5


class RunLocked(SpineError):
    """Another run holds the output folder or the store; nothing has been run or written."""

    exit_code = UsageError.exit_code


def _sibling(path: Path, suffix: str) -> Path:
    return path.parent / f".{path.name}.{suffix}"


def lock_path(path: Path) -> Path:
    return _sibling(path, "lock")


@contextmanager
def exclusive(*paths: Path) -> Iterator[None]:
    """Hold an exclusive lock on each of ``paths`` (output folder, store) for the block.

    The lock is the operating system's (``flock`` on a ``.<name>.lock`` file beside each): it is
    released when the process ends however it ends, so a killed run never leaves a stale lock.

    Raises:
        RunLocked: another process holds one of them (naming it and that process's id).
    """
    import fcntl

    handles = []
    try:
        for path in dict.fromkeys(p.resolve() for p in paths):
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
            handles.append(handle)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                holder = handle.read().strip() or "unknown"
                raise RunLocked(f"{path} is in use by another spine run (process {holder}); wait for it to "
                                "finish (one run at a time per output folder and store)") from None
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        yield
    finally:
        for handle in handles:
            handle.close()


@contextmanager
def private_files(permissions: str) -> Iterator[None]:
    """Create every file and folder of the block readable by the user only (or the group): the
    process's umask for the block, so DuckDB's store, spill files and every output are covered."""
    previous = os.umask(UMASKS[permissions])
    try:
        yield
    finally:
        os.umask(previous)


# --- what the output folder holds -------------------------------------------------------------

def read_manifest(out: Path) -> dict | None:
    """The manifest of the output folder: the job that owns it and the files it wrote. An older
    run's plain-text marker reads as owning everything in the folder."""
    marker = out / MARKER
    if not marker.is_file():
        return None
    try:
        manifest = json.loads(marker.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return {"job": None, "files": None}
    return manifest if isinstance(manifest, dict) else {"job": None, "files": None}


def write_manifest(folder: Path, job_file: Path | None, extra: tuple[str, ...] = ()) -> None:
    """List what the job wrote in ``folder`` (every file in it now, plus ``extra``)."""
    files = sorted({str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {MARKER} | set(extra))
    _save_manifest(folder, {"written_by": "migration-spine: this folder is replaced whole on every run of the job",
                            "job": str(job_file) if job_file else None, "files": files})


def _save_manifest(folder: Path, manifest: dict) -> None:
    staged = _sibling(folder / MARKER, "tmp")
    staged.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(staged, folder / MARKER)


def add_to_manifest(out: Path, name: str) -> None:
    """Record one more file the job wrote into its output folder (a report written later)."""
    manifest = read_manifest(out)
    if manifest is None or manifest.get("files") is None or name in manifest["files"]:
        return
    _save_manifest(out, {**manifest, "files": sorted([*manifest["files"], name])})


def check_output_dir(out: Path, job_file: Path | None = None) -> None:
    """Refuse an output folder the job does not own: one no spine run wrote, one another job
    wrote, or one holding files the job did not write (they would be deleted by the swap)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output.dir  {out} is a file, not a folder")
    if not out.exists() or not any(out.iterdir()):
        return
    manifest = read_manifest(out)
    if manifest is None:
        raise ConfigError(f"output.dir  {out} exists and was not written by a spine run; "
                          "choose an empty or new folder (the output folder is replaced whole)")
    owner = manifest.get("job")
    if owner and job_file and Path(owner) != job_file:
        raise ConfigError(f"output.dir  {out} holds the outputs of another job ({owner}); give each job its own "
                          f"output folder (if that is this job's file moved or renamed, put its path in the "
                          f"\"job\" entry of {out / MARKER} to hand the folder and its store over)")
    if manifest.get("files") is None:
        return
    owned = set(manifest["files"]) | {MARKER}
    foreign = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and str(p.relative_to(out))
                     not in owned and not _own_temporary(p, out))
    if foreign:
        shown = ", ".join(foreign[:_SHOWN]) + (f" and {len(foreign) - _SHOWN} more" if len(foreign) > _SHOWN else "")
        raise ConfigError(f"output.dir  {out} holds {len(foreign)} file(s) this job did not write ({shown}); every run "
                          "replaces the folder whole, so move them elsewhere first (nothing was run or deleted)")


def _own_temporary(path: Path, out: Path) -> bool:
    """A file a killed ``spine report`` or manifest update left half written (``.<name>.tmp``):
    the job's own, replaced with the folder on the next run."""
    return path.parent == out and path.name.startswith(".") and path.name.endswith(".tmp")


def check_not_in_other_output(path: Path, out: Path, where: str) -> None:
    """A store outside the job's output folder must not sit in another job's output folder (it
    would replace that job's store and break its manifest)."""
    for folder in path.resolve().parents:
        if folder == out.resolve():
            return
        if (folder / MARKER).is_file():
            raise ConfigError(f"{where}  {path} is inside {folder}, another spine run's output folder; put it "
                              "outside every output folder, or directly in this job's own")


def check_store_location(store: Path, out: Path) -> None:
    """The store sits directly in the output folder or outside it: a store in a subfolder of the
    output folder would be deleted with the folder on every run, and its link history with it."""
    store, out = store.resolve(), out.resolve()
    if out in store.parents and store.parent != out:
        raise ConfigError(f"output.store  {store} is inside a subfolder of the output folder {out}, which every "
                          "run replaces whole; put the store directly in the output folder or outside it")


def check_not_inside_output(path: Path, out: Path, where: str) -> None:
    """Files the job reads or keeps between runs (review decisions) must not live in the output
    folder, which every run replaces."""
    if out.resolve() in path.resolve().parents:
        raise ConfigError(f"{where}  {path} is inside the output folder {out}, which every run replaces whole; "
                          "keep it outside")


def job_files(job: "JobConfig") -> dict[str, Path]:
    """Files the job reads or keeps between runs, by YAML path: no run or command writes over them."""
    files = {f"sources.{name}.path": job.resolve(source.path) for name, source in job.sources.items()
             if source.path is not None}
    files |= {f"sources.{name}.linkage.model": job.resolve(source.linkage.model)   # type: ignore[union-attr]
              for name, source in job.sources.items() if getattr(source.linkage, "model", None)}
    if job.flows.uncertainty.validation is not None:
        files["flows.uncertainty.validation.path"] = job.resolve(job.flows.uncertainty.validation.path)
    files["review.decisions"] = job.resolve(job.review.decisions)
    if job.job_file is not None:
        files["the job file"] = job.job_file
    return files


def check_write_target(job: "JobConfig", target: Path, option: str, *, personal: bool = False) -> Path:
    """A file a command is asked to write (``--out``): never one of the job's inputs, its store
    or a folder. ``personal`` files (a review export) may not go where runs replace or spill
    either: the output folder, the store's spill folder, ``engine.temp_directory``.

    Raises:
        UsageError: naming the option and what the target is (nothing is written).
    """
    target = target.expanduser()
    store = job.store_path
    files = {**job_files(job), "output.store": store, "output.store (its write-ahead log)": store.with_name(store.name + ".wal")}
    for what, path in files.items():
        if target.resolve() == path.resolve() or (target.exists() and path.exists() and os.path.samefile(target, path)):
            raise UsageError(f"{option}  {target} is the job's {what}; choose another file (nothing was written)")
    if target.is_dir():
        raise UsageError(f"{option}  {target} is a folder; give a file name (nothing was written)")
    if personal:
        folders = {"the output folder (output.dir)": job.output_dir,
                   "the store's spill folder": store.with_name(store.name + ".tmp")}
        if job.engine.temp_directory:
            folders["engine.temp_directory"] = job.resolve(job.engine.temp_directory)
        for what, folder in folders.items():
            if target.resolve().is_relative_to(folder.resolve()):
                raise UsageError(f"{option}  {target} is inside {what} ({folder}), which runs replace; the file holds "
                                 "personal data: write it where the reviewers work (nothing was written)")
    return target


# --- staging, commit and recovery ----------------------------------------------------------------

def staging_dir(out: Path) -> Path:
    """A fresh staging folder beside the output folder (same file system, so rename is atomic)."""
    staging = _sibling(out, f"staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def resume_staging(leftover: Path, out: Path) -> Path:
    """Take over a killed run's staging folder (renamed for this process)."""
    staging = _sibling(out, f"staging-{os.getpid()}")
    os.replace(leftover, staging)
    return staging


def _journal(out: Path) -> Path:
    return _sibling(out, "commit")


def commit(staging: Path, out: Path, store: tuple[Path, Path] | None = None) -> None:
    """Swap the staging folder in for the output folder (and a staged store outside it into place).

    The plan is written to a journal first; if the process dies at any point after that, the next
    start finishes the swap (``recover``). Before the journal exists the previous outputs are
    untouched.
    """
    previous = _sibling(out, f"previous-{os.getpid()}")
    plan = {"staging": str(staging), "previous": str(previous),
            "store": [str(store[0]), str(store[1])] if store else None}
    staged_plan = _sibling(_journal(out), "tmp")
    with open(staged_plan, "w", encoding="utf-8") as handle:
        json.dump(plan, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged_plan, _journal(out))
    _finish_commit(out, plan)


def _finish_commit(out: Path, plan: dict) -> None:
    """Each step of the swap, each skipped if already done: so a killed commit can be finished."""
    staging, previous = Path(plan["staging"]), Path(plan["previous"])
    if staging.exists():
        if plan.get("store") and Path(plan["store"][0]).exists():
            commit_file(Path(plan["store"][0]), Path(plan["store"][1]))
        if out.exists():
            os.replace(out, previous)
        os.replace(staging, out)
    elif not out.exists() and previous.exists():   # the new outputs are gone: keep the previous ones
        os.replace(previous, out)
    shutil.rmtree(previous, ignore_errors=True)
    _journal(out).unlink(missing_ok=True)


def commit_started(out: Path) -> bool:
    """Whether a commit's journal is written: from then on the swap is only ever finished."""
    return _journal(out).exists()


def finish_interrupted_commit(out: Path) -> bool:
    """Before a run (holding the lock): finish a commit a killed run left half done. True if one was."""
    journal = _journal(out)
    if not journal.exists():
        return False
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
    except ValueError:   # killed while writing the plan: nothing had been moved yet
        plan = None
    if isinstance(plan, dict):
        _finish_commit(out, plan)
    journal.unlink(missing_ok=True)
    return True


def remove_leftovers(out: Path, keep: Path | None = None) -> int:
    """Before a run (holding the lock): delete what killed runs left beside the output folder
    (staging folders hold personal data), except ``keep`` (a staging folder to resume)."""
    removed = 0
    for pattern in ("staging-*", "previous-*", "commit.tmp"):
        for leftover in out.parent.glob(f".{out.name}.{pattern}"):
            if keep is not None and leftover.resolve() == keep.resolve():
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed += 1
    return removed


def commit_file(staged: Path, final: Path) -> None:
    """Move one staged file (a store kept outside the output folder) into place atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, final)
