"""Rule settings chosen on the validation sample (``rules.calibrate``), with cross-validation.

Every combination of the listed alternatives runs the rules once on the linked spine; each
sampled person's derived events are compared with their true moves at the level of period and
event (spine.validation.unit_scores_sql), and the combination with the highest F1 over the sample
is used for the run. Because a choice looks best on the data it was chosen on, the sample is also
split into folds by person: for each fold the combination is chosen on the other folds and scored
on it, and that held-out F1 is what the choice is expected to give on people it has not seen
(``quality.json`` ``rules.calibration``; the report). The sample does not grade its own choice.
"""

from __future__ import annotations

import itertools
import zlib
from typing import Any

import numpy as np
import pandas as pd

from spine.config import JobConfig, with_rule_value
from spine.engine import Engine
from spine.events_stage import build_movements_and_events
from spine.validation import unit_scores_sql


def _f1(tp: float, fp: float, fn: float) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def calibrate_rules(db: Engine, job: JobConfig, linked_records: str) -> tuple[JobConfig, dict[str, Any]]:
    """Run every combination of ``job.rules.calibrate.alternatives``; return the job with the best
    one (by F1 over the whole sample) and what was compared. The rules' tables are left as the
    last combination made them: the caller runs the rules again with the chosen job."""
    config = job.rules.calibrate
    assert config is not None
    keys = list(config.alternatives)
    combinations = list(itertools.product(*(config.alternatives[k] for k in keys)))
    scores: list[pd.DataFrame] = []
    for number, values in enumerate(combinations):
        candidate = job
        for key, value in zip(keys, values):
            candidate = with_rule_value(candidate, key, value)
        build_movements_and_events(db, candidate, linked_records, ablations=False)
        found = db.frame(unit_scores_sql(candidate))
        found["combination"] = number
        scores.append(found)
    table = pd.concat(scores, ignore_index=True)
    table["fold"] = [zlib.crc32(unit.encode()) % config.folds for unit in table["unit"]]   # per person, small
    overall = table.groupby("combination")[["tp", "fp", "fn"]].sum()
    f1 = np.array([_f1(*overall.loc[c]) for c in range(len(combinations))])
    held_out = np.zeros(3)
    chosen_per_fold = []
    for fold in range(config.folds):
        train = table[table["fold"] != fold].groupby("combination")[["tp", "fp", "fn"]].sum()
        pick = int(np.argmax([_f1(*train.loc[c]) for c in range(len(combinations))]))
        chosen_per_fold.append(pick)
        held_out += table[(table["fold"] == fold) & (table["combination"] == pick)][["tp", "fp", "fn"]].sum().to_numpy()
    best = int(np.argmax(f1))
    chosen = job
    for key, value in zip(keys, combinations[best]):
        chosen = with_rule_value(chosen, key, value)
    described = [dict(zip(keys, v)) for v in combinations]
    return chosen, {
        "settings": keys, "folds": config.folds, "people": int(table[table["combination"] == 0]["unit"].nunique()),
        "combinations": [{"settings": described[c], "f1": round(float(f1[c]), 4),
                          "true_positives": int(overall.loc[c, "tp"]), "false_positives": int(overall.loc[c, "fp"]),
                          "false_negatives": int(overall.loc[c, "fn"])} for c in range(len(combinations))],
        "chosen": described[best], "chosen_f1_on_the_sample": round(float(f1[best]), 4),
        "cross_validated_f1": round(_f1(*held_out), 4),
        "chosen_per_fold": [described[c] for c in chosen_per_fold],
    }
