"""Disaggregation groups shared by flows and quality metrics: age group and citizenship group."""

from __future__ import annotations

from linkage._sql import sql_literal


def age_group_labels(boundaries: list[int]) -> list[str]:
    """Labels of the age groups that start at ``boundaries``, youngest first: ``0-15`` ... ``65+``."""
    return [f"{low}-{high - 1}" for low, high in zip(boundaries, boundaries[1:])] + [f"{boundaries[-1]}+"]


def age_group_sql(dob: str, at: str, boundaries: list[int]) -> str:
    """SQL label of the age group (``0-15``, ``65+``, ``unknown``) of ``dob`` at date ``at``."""
    age = f"datesub('year', {dob}, {at})"
    labels = age_group_labels(boundaries)
    whens = [f"WHEN {age} < {high} THEN '{label}'" for high, label in zip(boundaries[1:], labels)]
    whens.append(f"ELSE '{labels[-1]}'")
    return f"(CASE WHEN {dob} IS NULL OR {age} < 0 THEN 'unknown' {' '.join(whens)} END)"


def citizenship_group_sql(nationality: str, home_country: str) -> str:
    """``national``, ``foreign`` or ``unknown``."""
    return (f"(CASE WHEN {nationality} IS NULL THEN 'unknown' "
            f"WHEN {nationality} = {sql_literal(home_country)} THEN 'national' ELSE 'foreign' END)")


def sex_group_sql(sex: str) -> str:
    """``f``, ``m`` or ``unknown``."""
    return f"coalesce({sex}, 'unknown')"
