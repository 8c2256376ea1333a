"""Helpers for the infra tests: plan JSON preparation and checkov report parsing."""

from __future__ import annotations

import json
from pathlib import Path


def fill_unknowns(values, unknown, path: str):
    """Give every plan value that is only known after apply a unique placeholder.

    checkov reads an unknown attribute (e.g. the ARN of a KMS key created in
    the same plan) as missing and would report "not encrypted". Each unknown
    value becomes "known-after-apply:<address>.<path>": present, and never equal
    to another unknown (so "task role != execution role" stays checkable).
    """
    if unknown is True:
        return f"known-after-apply:{path}" if values is None else values
    if isinstance(unknown, dict):
        values = {} if values is None else values
        if isinstance(values, dict):
            for key, u in unknown.items():
                values[key] = fill_unknowns(values.get(key), u, f"{path}.{key}")
        return values
    if isinstance(unknown, list):
        values = [] if values is None else values
        if isinstance(values, list):
            for i, u in enumerate(unknown):
                if i < len(values):
                    values[i] = fill_unknowns(values[i], u, f"{path}[{i}]")
                elif u:
                    values.append(fill_unknowns(None, u, f"{path}[{i}]"))
        return values
    return values


def prepare_plan_for_checkov(source: Path, dest: Path) -> Path:
    plan = json.loads(source.read_text())
    unknowns = {}
    for rc in plan.get("resource_changes", []):
        change = rc.get("change", {})
        unknowns[rc["address"]] = change.get("after_unknown")
        change["after"] = fill_unknowns(change.get("after") or {}, change.get("after_unknown"), rc["address"])

    def walk(module: dict) -> None:
        for resource in module.get("resources", []):
            u = unknowns.get(resource["address"])
            if u:
                resource["values"] = fill_unknowns(resource.get("values") or {}, u, resource["address"])
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan.get("planned_values", {}).get("root_module", {}))
    dest.write_text(json.dumps(plan))
    return dest


def parse_checkov(stdout: str) -> list[dict]:
    """checkov -o json prints one report object, or a list of them."""
    start = min((i for i in (stdout.find("{"), stdout.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("no JSON in checkov output")
    data = json.loads(stdout[start:])
    return data if isinstance(data, list) else [data]


def describe_failures(reports: list[dict]) -> str:
    lines = []
    for report in reports:
        for check in report.get("results", {}).get("failed_checks", []):
            lines.append(
                f"{check.get('check_id')} {check.get('check_name')}\n"
                f"    resource: {check.get('resource')}\n"
                f"    file: {check.get('file_path')}:{'-'.join(str(n) for n in check.get('file_line_range') or [])}"
            )
    return "\n".join(lines)
