"""The spine job: config, sources, store, builder, rules wiring, flows, report and CLI."""

from spine.config import JobConfig, job_json_schema, load_job
from spine.errors import CheckFailed, ConfigError, InputError, SpineError
from spine.job import Job, JobResult, run_job, validate_job

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
    "run_job",
    "validate_job",
]
