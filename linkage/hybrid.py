"""Hybrid linkage's own steps: which records the model scores, and how it is judged against the
identifier links (US Census practice). The identifier links themselves are
:mod:`linkage.deterministic`'s; the model is :mod:`linkage.probabilistic`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linkage._sql import Engine, materialise, quote_ident


def records_to_score(db: Engine, id_links: str, sample: int | None, output: str) -> str | None:
    """The records the model scores (``output``: one ``record_id`` column), or None for all.

    Every record an identifier did not link (unlinked, or sent to review), and ``sample`` of the
    identifier-linked ones: the same records every run, the lowest hashes of their ids. An
    identifier link stands whatever the model says, so its pairs are scored only to assess the
    model; at a million persons they were most of the pairs of tax, benefits and education. A
    fixed-size sample assesses as well at any size (the standard error of a recall near 0.98
    from 20,000 records is 0.001).

    Args:
        id_links: the identifier stage's table (``record_id``, ``status``).
        sample: identifier-linked records to score too; None: every record (returns None).
    """
    if sample is None:
        return None
    materialise(db, output, f"""
        SELECT record_id FROM {quote_ident(id_links)} WHERE status <> 'linked'
        UNION ALL
        (SELECT record_id FROM {quote_ident(id_links)} WHERE status = 'linked' ORDER BY md5(record_id), record_id
         LIMIT {int(sample)})""")
    return output


def assess_on_id_links(db: Engine, candidates: str, id_links: str, id_columns: Sequence[str], cut: float,
                       scored: str | None = None) -> dict[str, Any]:
    """How the probabilistic model does on records whose identifier link is known.

    The model compares the identifier too, which would make agreeing with the identifier links
    circular, so it is judged with the identifier comparisons' weights (``mw_<column>`` of
    ``id_columns``) taken out: each identifier-linked record's best candidate by the remaining
    weight, linked when that weight's probability reaches ``cut``. Candidates kept by the
    scoring's ``keep_above`` (0.001) only, so a namesake the identifier alone ruled out is not
    offered here: read the precision as an upper bound.

    Args:
        candidates: the model's pairs (``record_id``, ``entity_id``, ``match_weight``, ``mw_*``).
        id_links: the identifier stage's table (``record_id``, ``entity_id``, ``status``).
        scored: the records the model scored (the assessment is over the identifier-linked ones
            among them, see :func:`records_to_score`); None: every record.
    """
    assessed = (f"SELECT record_id, entity_id FROM {quote_ident(id_links)} WHERE status = 'linked'"
                + (f" AND record_id IN (SELECT record_id FROM {quote_ident(scored)})" if scored else ""))
    without_id = " - ".join(["c.match_weight", *(f"coalesce(c.{quote_ident('mw_' + col)}, 0)" for col in id_columns)])
    row = db.run(f"""
        WITH best AS (   -- ties between equal weights go to the first entity id: the same every run
            SELECT c.record_id, c.entity_id, {without_id} AS weight
            FROM {quote_ident(candidates)} AS c
            WHERE c.record_id IN (SELECT record_id FROM ({assessed}))
            QUALIFY row_number() OVER (PARTITION BY c.record_id ORDER BY {without_id} DESC, c.entity_id) = 1
        )
        SELECT count(*) AS id_linked,
               count(*) FILTER (WHERE 1 / (1 + pow(2, -b.weight)) >= {float(cut)!r}) AS model_linked,
               count(*) FILTER (WHERE 1 / (1 + pow(2, -b.weight)) >= {float(cut)!r} AND b.entity_id = i.entity_id)
                   AS agree
        FROM ({assessed}) AS i LEFT JOIN best AS b USING (record_id)""")[0]
    id_linked, model_linked, agree = (int(x) for x in row)
    all_linked = db.run(f"SELECT count(*) FROM {quote_ident(id_links)} WHERE status = 'linked'")[0][0]
    precision = agree / model_linked if model_linked else None
    recall = agree / id_linked if id_linked else None
    f1 = None if precision is None or recall is None else (
        2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {"id_linked_records": int(all_linked), "assessed_records": id_linked,
            "model_linked": model_linked, "model_agrees": agree,
            "precision": precision, "recall": recall, "f1": f1,
            "identifier_weights_removed": list(id_columns)}
