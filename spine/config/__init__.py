"""The job file as typed models: validated before any work, every error with its YAML path.

``load_job`` is the only function that reads a job YAML. Models forbid unknown keys, code and
id fields are strict strings (YAML 1.1 reads ``NO`` as false), and cross-references between
sections are checked in validators whose messages name the path.

One module per concern: ``fields`` (standard fields, the base model), ``linkage`` (a source's
``linkage``), ``sources``, ``rules``, ``flows`` (uncertainty, validation), ``job`` (the whole job
and the checks across sections), ``loading`` (reading a file, its error messages), ``schema``
(the JSON Schema). Everything is importable from ``spine.config`` as before.
"""

from spine.errors import ConfigError  # noqa: F401
from spine.config.fields import (  # noqa: F401
    IDENTITY_FIELDS, EVENT_FIELDS, STANDARD_FIELDS, DATE_FIELDS, ID_FIELDS, StandardField, IdField, Iso3,
    NAME_PATTERN, Name, DEFAULT_DATE_FORMAT, MAX_DAYS, StrictModel, ColumnConfig,
)
from spine.config.linkage import (  # noqa: F401
    NoLinkageConfig, DERIVED_FEATURES, LINKAGE_COLUMNS, LinkageColumn, Probability, RULE_COLUMN, rule_columns,
    SplinkRuleSql, IdCheckConfig, IdLinkageMixin, DeterministicIdConfig, MatchKeyConfig, MatchKeysConfig,
    ComparisonConfig, ProbabilisticConfig, HybridConfig, LinkageConfig,
)
from spine.config.sources import (  # noqa: F401
    TABLE_PATTERN, DatabaseConfig, SourceConfig,
)
from spine.config.rules import (  # noqa: F401
    ItineraryRuleConfig, EventsRuleConfig, SignsOfLifeConfig, VisasRuleConfig, FamilyRuleConfig, CalibratedSetting,
    CalibrateConfig, MAX_CALIBRATED_COMBINATIONS, RulesConfig,
)
from spine.config.flows import (  # noqa: F401
    RuleParameter, ValidationStratum, ValidationColumnsConfig, ValidationConfig, UncertaintyConfig, FlowsConfig,
)
from spine.config.job import (  # noqa: F401
    ObservationConfig, TWELVE_IN_SIXTEEN_DAYS, ReportingConfig, OutputConfig, EngineConfig, ReviewConfig,
    ReportConfig, ConflictPolicy, Attribute, ConflictsConfig, EnlargementConfig, BaseDeduplicationConfig,
    JobConfig, with_rule_value,
)
from spine.config.loading import (  # noqa: F401
    load_job, _loc_text, _UNION_TAGS,
)
from spine.config.schema import (  # noqa: F401
    SCHEMA_ID, job_json_schema,
)
