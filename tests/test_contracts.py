"""The source contracts and the dbt reference data say the same thing."""

from __future__ import annotations

import csv

import yaml

from pipelines.foundation.settings import DBT_PROJECT_DIR
from pipelines.ingest.contract import all_contracts, load_contract

CODE_LISTS = {
    ("ibasho_survey", "activity_type"): "activity_type",
    ("ibasho_survey", "target_group"): "target_group",
    ("ibasho_survey", "operator"): "operator",
    ("ibasho_survey", "frequency"): "frequency",
    ("facility_initiatives", "field"): "facility_field",
    ("consultations", "channel"): "channel",
    ("consultations", "requester_type"): "requester_type",
    ("consultations", "topic"): "topic",
    ("ward_action_plans", "goal"): "goal",
    ("ward_action_plans", "self_rating"): "self_rating",
}


def seed_codes() -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    with (DBT_PROJECT_DIR / "seeds" / "code_lists.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            lists.setdefault(row["list_name"], []).append(row["code"])
    return lists


def test_every_code_list_in_a_contract_is_in_dim_code():
    seeds = seed_codes()
    coded = {  # a reference column's codes are its reference table's (a seed of their own)
        (c.key, col.name)
        for c in all_contracts()
        for col in c.columns
        if col.codes and not col.reference
    }
    assert coded == set(CODE_LISTS)
    for (source, column), list_name in CODE_LISTS.items():
        assert list(load_contract(source).column(column).codes) == seeds[list_name]


def test_initiative_categories_match_the_facility_contract():
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    categories = project["vars"]["initiative_categories"]
    flags = [c for c in load_contract("facility_initiatives").columns if c.type == "flag"]
    assert [(c["column"], c["label_ja"]) for c in categories] == [(f.name, f.header) for f in flags]


def test_fixed_submitters_match_the_contracts():
    with (DBT_PROJECT_DIR / "seeds" / "fixed_submitters.csv").open(encoding="utf-8") as handle:
        seeded = {
            (r["source"], r["submitter_code"], r["submitter_name"]) for r in csv.DictReader(handle)
        }
    assert seeded == {
        (c.key, c.submitter_code, c.submitter_name)
        for c in all_contracts()
        if c.submitter_kind == "fixed"
    }


def test_contracts_name_every_required_column_with_a_japanese_header():
    for contract in all_contracts():
        for column in contract.columns:
            assert column.header and column.name.isascii() and column.name == column.name.lower()


def test_the_projects_own_specification_names_every_column_and_code_of_every_contract():
    """docs/submissions.md is kept current with the contracts: every source, every column
    (as headed and by its name), every code of every code list."""
    from pipelines.foundation.settings import PROJECT_ROOT

    spec = (PROJECT_ROOT / "docs" / "submissions.md").read_text(encoding="utf-8")
    missing = []
    for contract in all_contracts():
        missing += [contract.key] if f"`{contract.key}`" not in spec else []
        for column in contract.columns:
            missing += [f"{contract.key}.{column.name}"] if f"`{column.name}`" not in spec else []
            missing += [f"{contract.key}: {column.header}"] if column.header not in spec else []
            missing += [f"{contract.key}.{column.name}: {c}" for c in column.codes if c not in spec]
    assert missing == []
