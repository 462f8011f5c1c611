"""Standard fields, names and the base of every config model."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr


#: Standard fields a source column can be mapped onto.
IDENTITY_FIELDS = ("first_name", "surname", "dob", "sex", "nationality", "country_of_birth",
                   "postcode", "house_number", "street", "locality", "national_id", "passport_no")
EVENT_FIELDS = ("event_date", "direction", "start_date", "end_date", "event_type", "claim_id")
STANDARD_FIELDS = IDENTITY_FIELDS + EVENT_FIELDS
DATE_FIELDS = ("dob", "event_date", "start_date", "end_date")
ID_FIELDS = ("national_id", "passport_no")

StandardField = Literal[
    "first_name", "surname", "dob", "sex", "nationality", "country_of_birth", "postcode",
    "house_number", "street", "locality", "national_id", "passport_no", "event_date", "direction",
    "start_date", "end_date", "event_type", "claim_id",
]
IdField = Literal["national_id", "passport_no"]
Iso3 = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")]
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN, max_length=63)]
DEFAULT_DATE_FORMAT = "%Y-%m-%d"
#: Day counts in rules: a century is more than any rule needs, and keeps date arithmetic in range.
MAX_DAYS = 36_525


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnConfig(StrictModel):
    """A source column mapped onto a standard field, with its own date format if it has one."""

    #: The column of the source file.
    column: StrictStr
    #: Its date format(s) (strptime), tried in order; default: the source's date_format.
    format: StrictStr | list[StrictStr] | None = None
