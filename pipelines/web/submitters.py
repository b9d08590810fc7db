"""Who sends what: the submitters named by the source contracts, and the surveys each may send.

A ward council (its 6-digit ward code) sends the surveys whose contract says ``kind: ward``,
for its own ward only; a fixed submitter (the facility council, the volunteer centre, the
council's planning unit) sends the surveys whose contract names it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.ingest.contract import Contract, all_contracts
from pipelines.ingest.normalize import ward_table


@dataclass(frozen=True)
class Submitter:
    code: str
    name: str


def all_submitters() -> list[Submitter]:
    wards = ward_table()
    found = [Submitter(str(r.ward_code), str(r.ward_name)) for r in wards.itertuples()]
    for contract in all_contracts():
        if contract.submitter_kind == "fixed" and contract.submitter_code:
            submitter = Submitter(contract.submitter_code, contract.submitter_name or "")
            if submitter not in found:
                found.append(submitter)
    return found


def submitter(code: str) -> Submitter | None:
    return next((s for s in all_submitters() if s.code == code), None)


def is_ward(code: str) -> bool:
    return code in set(ward_table()["ward_code"].astype(str))


def may_send(code: str, contract: Contract) -> bool:
    if contract.submitter_kind == "ward":
        return is_ward(code)
    return contract.submitter_code == code


def sources_for(code: str) -> list[Contract]:
    """The surveys this submitter sends, in the order of docs/submissions.md."""
    return [c for c in all_contracts() if may_send(code, c)]
