"""Splink's own comparison viewer and cluster studio for each probabilistic source's review band.

Written only when the job asks (``report: {dashboards: true}``): unlike ``report.html`` they show
records' names, dates and identifiers. Each shows exactly what the run decided: the pairs it
scored for the records whose best candidate fell in the band, re-scored by Splink with the run's
trained model over the run's own inputs (so term frequencies are the run's), not a re-blocking.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import duckdb

from linkage._sql import quote_ident, sql_literal
from linkage.probabilistic import LEFT, RIGHT
from spine.diagnostics import probabilistic_metrics
from spine.engine import Engine
from spine.errors import without_values
from spine.linking import SPINE_REFERENCE, features_table

logger = logging.getLogger(__name__)

#: Folder of the dashboards in the output folder.
DASHBOARDS_DIR = "dashboards"
#: Records of the band a dashboard shows at most: a sample, the same every run (by a hash of the
#: record id). A dashboard is for looking at cases; the review export lists them all.
MAX_RECORDS = 300
#: Clusters the cluster studio offers: the largest (where one record met several persons), then by id.
CLUSTERS = 30
#: The dashboards' files in DASHBOARDS_DIR: <source><suffix>.
VIEWER_SUFFIX, STUDIO_SUFFIX = "_comparison_viewer.html", "_cluster_studio.html"
#: The in-memory database Splink works in while it writes the dashboards.
WORKSPACE = "spine_dashboards"
#: Without a review band: the records whose best candidate scored between these (or the threshold,
#: if it is outside them): where a review band would usually be set.
NEAR_THRESHOLD = (0.5, 0.99)


def review_band(model: dict[str, Any]) -> tuple[float, float]:
    """The band a source's dashboards show: its review band, else around its threshold."""
    if model.get("review_band"):
        low, high = model["review_band"]
        return float(low), float(high)
    threshold = float(model["threshold"])
    return min(NEAR_THRESHOLD[0], threshold), max(NEAR_THRESHOLD[1], threshold)


def write_dashboards(db: Engine, metrics: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write both dashboards for every source with a trained model; return what was written
    (files relative to the output folder, records and pairs shown), for quality.json. A source
    whose dashboards fail is recorded with the error and a warning: the run's outputs stand."""
    written: dict[str, Any] = {}
    for name, source_metrics in (metrics.get("linkage") or {}).items():
        model = probabilistic_metrics(source_metrics)
        if not model or not model.get("splink_model") or model.get("threshold") is None:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        try:
            written[name] = _source_dashboards(db, name, model, folder)
        except Exception as error:   # noqa: BLE001 - an optional view of the run; the run itself stands
            why = f"not written: {type(error).__name__}: {without_values(error)}"
            logger.warning("%s: the Splink dashboards were %s", name, why)
            for suffix in (VIEWER_SUFFIX, STUDIO_SUFFIX):   # no half-written file (with records) is published
                (folder / f"{name}{suffix}").unlink(missing_ok=True)
            written[name] = {"band": list(review_band(model)), "records": 0, "pairs": 0, "files": [], "why": why,
                             "records_in_band_sampled_to": MAX_RECORDS}
    return written


#: Splink's dashboard templates load a web font from Google: these lines are taken out, so that a
#: file holding personal data contacts nobody when it is opened (the page falls back to sans-serif).
_WEB_FONTS = re.compile(r'<link[^>]*(fonts\.googleapis\.com|fonts\.gstatic\.com)[^>]*>\n?')


def _offline(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    path.write_text(_WEB_FONTS.sub("", text), encoding="utf-8")


def _source_dashboards(db: Engine, name: str, model: dict[str, Any], folder: Path) -> dict[str, Any]:
    from splink import Linker
    from splink.internals.unique_id_concat import CONCAT_SEPARATOR

    started = time.perf_counter()
    low, high = review_band(model)
    cursor = db.cursor()
    store = cursor.run("SELECT current_database()")[0][0]
    tables = {t: f"{quote_ident(store)}.main.{quote_ident(t)}" for t in (f"scored__{name}", f"candidates__{name}")}
    scored, candidates = tables[f"scored__{name}"], tables[f"candidates__{name}"]
    ids = f"link__{name}__ids"   # a hybrid's identifier links: the records they decided were not the model's
    has_ids = bool(cursor.run("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                              [store, ids])[0][0])
    not_decided = (f"WHERE record_id NOT IN (SELECT record_id FROM {quote_ident(store)}.main.{quote_ident(ids)} "
                   "WHERE status IN ('linked', 'review'))" if has_ids else "")
    # Splink's working tables (every input record with its term frequencies) go to memory, not the store.
    cursor.run(f"ATTACH ':memory:' AS {WORKSPACE}")
    try:
        cursor.run(f"USE {WORKSPACE}")
        cursor.run(f"""
            CREATE TABLE pairs AS
            WITH band AS (
                SELECT record_id FROM {candidates} {not_decided} GROUP BY record_id
                HAVING max(match_probability) BETWEEN {low} AND {high}
                ORDER BY md5(record_id) LIMIT {MAX_RECORDS})
            SELECT '0' AS match_key,
                   {sql_literal(LEFT + CONCAT_SEPARATOR)} || s.left_id AS join_key_l,
                   {sql_literal(RIGHT + CONCAT_SEPARATOR)} || s.right_id AS join_key_r
            FROM {scored} AS s JOIN band ON band.record_id = s.left_id""")
        records, pairs = cursor.run("SELECT count(DISTINCT join_key_l), count(*) FROM pairs")[0]
        shown: dict[str, Any] = {"band": [low, high], "records": records, "pairs": pairs,
                                 "records_in_band_sampled_to": MAX_RECORDS}
        if pairs == 0:
            return {**shown, "files": [], "why": "no record's best candidate scored in the band"}
        for view, table in (("left_records", features_table(name)), ("right_records", SPINE_REFERENCE)):
            cursor.run(f"CREATE VIEW {view} AS SELECT * FROM {quote_ident(store)}.main.{quote_ident(table)}")
        db_api = cursor.splink_api()
        inputs = [db_api.register("left_records", table_name=LEFT), db_api.register("right_records", table_name=RIGHT)]
        # the dashboards show each pair's values and each comparison's weight
        settings = {**model["splink_model"], "retain_matching_columns": True,
                    "retain_intermediate_calculation_columns": True}
        linker = Linker(inputs, settings, log_level=None)
        viewer, studio = folder / f"{name}{VIEWER_SUFFIX}", folder / f"{name}{STUDIO_SUFFIX}"
        try:
            linker.table_management.register_blocked_pairs_for_predict(db_api.register("pairs"))
            predictions = linker.inference.predict()
            clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, low)
            largest = [r[0] for r in cursor.run(f"""
                SELECT cluster_id FROM {clusters.physical_name} GROUP BY cluster_id HAVING count(*) > 1
                ORDER BY count(*) DESC, cluster_id LIMIT {CLUSTERS}""")]
            linker.visualisations.comparison_viewer_dashboard(predictions, str(viewer), overwrite=True)
            linker.visualisations.cluster_studio_dashboard(predictions, clusters, str(studio), overwrite=True,
                                                           cluster_ids=largest)
        finally:
            linker.table_management.delete_tables_created_by_splink_from_db()
        for path in (viewer, studio):
            _offline(path)
        seconds = time.perf_counter() - started
        logger.info("%s: dashboards of %d records, %d pairs in %.1fs", name, records, pairs, seconds)
        return {**shown, "clusters": len(largest), "files": [f"{DASHBOARDS_DIR}/{viewer.name}", f"{DASHBOARDS_DIR}/{studio.name}"],
                "seconds": round(seconds, 2)}
    finally:
        cursor.close()   # rolls back anything open, so the workspace can go
        try:
            db.run(f"DETACH DATABASE IF EXISTS {WORKSPACE}")
        except duckdb.Error as error:   # the failure being raised, if any, is the one to see
            logger.warning("the dashboards' workspace could not be detached: %s", error)
