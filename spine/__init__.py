"""The spine job: config, sources, store, builder, rules wiring, flows, report and CLI."""

from spine.config import JobConfig, job_json_schema, load_job
from spine.errors import CheckFailed, ConfigError, InputError, SpineError
from spine.job import Job, JobResult, open_run, run_job, validate_job

#: ``spine.open(job_or_output_dir)``: a finished run without running it again (spine.job.open_run).
open = open_run  # noqa: A001 - read as spine.open; not in __all__, so `import *` keeps the builtin

__all__ = [
    "CheckFailed",
    "ConfigError",
    "InputError",
    "Job",
    "JobConfig",
    "JobResult",
    "SpineError",
    "job_json_schema",
    "load_job",
    "open_run",
    "run_job",
    "validate_job",
]
