"""Offline verification of infra/terraform (issue 3 and the Terraform half of issue 8).

- terraform fmt -check, terraform validate (both roots)
- terraform test with a mocked AWS provider (both roots; every "Must hold" a plan can show)
- terraform plan with fake credentials for the organization root and for the workload root in
  both cost profiles (and the Aurora option), then checkov on those plan JSONs and on the HCL:
  zero failed checks, every skip inline with a reason
- static guards: no IAM users or access keys, the buildspec environment matches the README
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.infra.conftest import PLANS, ROOTS, TF_SOURCE, run
from tests.infra.tfhelpers import describe_failures, parse_checkov, prepare_plan_for_checkov

pytestmark = pytest.mark.timeout(1200)

README = TF_SOURCE.parent / "README.md"
TF_FILES = sorted(p for p in TF_SOURCE.rglob("*.tf") if ".terraform" not in p.parts)


def test_fmt(terraform_bin, tf_env):
    cmd = [terraform_bin, "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_SOURCE)]
    result = run(cmd, TF_SOURCE, tf_env)
    assert result.returncode == 0, "terraform fmt -check found unformatted files\n" + result.explain()


@pytest.mark.parametrize("root", ROOTS)
def test_validate(root, init_root, terraform_bin, tf_env):
    result = run([terraform_bin, "validate", "-no-color"], init_root(root), tf_env)
    assert result.returncode == 0, f"terraform validate ({root}) failed\n" + result.explain()


@pytest.mark.parametrize("root", ROOTS)
def test_terraform_test(root, init_root, terraform_bin, tf_env):
    result = run([terraform_bin, "test", "-no-color"], init_root(root), tf_env, timeout=1200)
    summary = re.search(r"(Success|Failure)! (\d+) passed, (\d+) failed", result.stdout)
    assert result.returncode == 0, f"terraform test ({root}) failed\n" + result.explain(tail=200)
    assert summary, result.explain()
    assert summary.group(3) == "0", result.explain()
    assert int(summary.group(2)) >= 4, result.explain()


@pytest.mark.parametrize("name", list(PLANS))
def test_plan_with_fake_credentials(name, plan_json):
    plan = json.loads(plan_json(name).read_text())
    changes = plan.get("resource_changes", [])
    assert changes, f"plan {name} creates nothing"
    types = {rc["type"] for rc in changes}
    forbidden = types & {"aws_iam_user", "aws_iam_access_key", "aws_iam_user_login_profile", "aws_iam_user_policy"}
    assert not forbidden, f"plan {name} creates IAM users or long-lived keys: {sorted(forbidden)}"
    if name.startswith("workload"):
        expected = {
            "aws_ecs_service",
            "aws_lb",
            "aws_wafv2_web_acl",
            "aws_appautoscaling_policy",
            "aws_cloudwatch_metric_alarm",
            "aws_sns_topic",
            "aws_codepipeline",
            "aws_codedeploy_deployment_group",
        }
        expected.add("aws_rds_cluster" if "aurora" in name else "aws_db_instance")
        if "hardened" in name:
            expected |= {"aws_nat_gateway", "aws_db_proxy"}
        assert expected <= types, f"plan {name} lacks {sorted(expected - types)}"
        if "starter" in name:
            assert "aws_nat_gateway" not in types, "starter profile must not plan a NAT gateway"
    else:
        assert {"aws_controltower_landing_zone", "aws_ssoadmin_account_assignment", "aws_organizations_policy"} <= types


@pytest.fixture(scope="session")
def checkov_plan_report(plan_json, checkov_cmd, tf_tree, tf_env):
    files = []
    for name in PLANS:
        source = plan_json(name)
        files.append(prepare_plan_for_checkov(source, source.with_suffix(".checkov.json")))
    cmd = [*checkov_cmd, "--framework", "terraform_plan", "--repo-root-for-plan-enrichment", str(tf_tree)]
    for f in files:
        cmd += ["-f", str(f)]
    cmd += ["--skip-download", "--compact", "-o", "json"]
    return run(cmd, tf_tree, tf_env, timeout=1200)


def _assert_checkov_clean(result, what):
    try:
        reports = parse_checkov(result.stdout)
    except ValueError:
        pytest.fail(f"checkov ({what}) produced no report\n" + result.explain(), pytrace=False)
    summaries = [r.get("summary", {}) for r in reports]
    failed = sum(s.get("failed", 0) for s in summaries)
    passed = sum(s.get("passed", 0) for s in summaries)
    assert failed == 0, f"checkov ({what}): {failed} failed checks\n" + describe_failures(reports)
    assert passed > 100, f"checkov ({what}) checked suspiciously little ({passed} passed)\n" + result.explain()
    assert result.returncode == 0, result.explain()


def test_checkov_on_plans(checkov_plan_report):
    """Plans of the organization root and of the workload root in every profile."""
    _assert_checkov_clean(checkov_plan_report, "plan JSON: " + ", ".join(PLANS))


def test_checkov_on_hcl(checkov_cmd, tf_tree, tf_env):
    cmd = [*checkov_cmd, "-d", str(tf_tree), "--framework", "terraform", "--skip-path", "zz_ci_override.tf"]
    cmd += ["--skip-download", "--compact", "-o", "json"]
    _assert_checkov_clean(run(cmd, tf_tree, tf_env, timeout=1200), "HCL")


SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_every_checkov_skip_is_inline_with_a_reason():
    skips = []
    for path in TF_FILES:
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = SKIP.search(line)
            if m:
                reason = (m.group(2) or "").strip()
                where = f"{path.relative_to(TF_SOURCE)}:{lineno}"
                assert re.fullmatch(r"CKV2?_AWS_\d+", m.group(1)), f"{where}: unexpected check id {m.group(1)}"
                assert len(reason) >= 20, f"{where}: skip of {m.group(1)} needs a one-line reason"
                skips.append(m.group(1))
    assert skips, "expected the documented inline skips"
    configs = [p for p in TF_SOURCE.parent.rglob(".checkov.y*ml")]
    assert not configs, f"skips must be inline, not in config files: {configs}"


def test_no_iam_users_or_long_lived_keys():
    pattern = re.compile(
        r'resource\s+"(aws_iam_user|aws_iam_access_key|aws_iam_user_login_profile|aws_iam_user_policy\w*)"'
        r"|^\s*(access_key|secret_key)\s*="
    )
    offenders = [
        f"{p.relative_to(TF_SOURCE)}:{n}: {line.strip()}"
        for p in TF_FILES
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "IAM users or static keys in infra/terraform:\n" + "\n".join(offenders)


def _documented_build_env() -> set[str]:
    text = README.read_text()
    block = re.search(r"<!-- build-env:start -->(.*?)<!-- build-env:end -->", text, re.S)
    assert block, "infra/README.md must list the buildspec variables between build-env markers"
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", block.group(1)))


def test_build_environment_matches_readme(plan_json):
    plan = json.loads(plan_json("workload-starter").read_text())
    build = next(
        rc for rc in plan["resource_changes"] if rc["address"] == "module.pipeline.aws_codebuild_project.build"
    )
    env = build["change"]["after"]["environment"][0]["environment_variable"]
    names = {e["name"] for e in env}
    assert all(e["type"] == "PLAINTEXT" for e in env)
    assert not {n for n in names if n.startswith("CODEBUILD_")}, "CODEBUILD_ prefix is reserved"
    documented = _documented_build_env()
    assert names == documented, (
        f"buildspec environment and infra/README.md differ: only in Terraform {sorted(names - documented)}, "
        f"only in README {sorted(documented - names)}"
    )


def test_team_file_shape():
    yaml = pytest.importorskip("yaml")
    team = yaml.safe_load((TF_SOURCE / "organization" / "team.yaml").read_text())
    people = team["people"]
    assert people, "team.yaml lists nobody"
    emails = [p["email"].lower() for p in people]
    assert len(emails) == len(set(emails)), "a person appears twice in team.yaml"
    for person in people:
        assert {"email", "given_name", "family_name", "access"} <= set(person), person
        assert set(person["access"].values()) <= {"read-only", "power-user", "admin"}, person


def test_tree_stays_clean():
    """The tests work on a copy; nothing Terraform writes may appear in the source tree."""
    litter = [
        p
        for pattern in (".terraform", ".terraform.lock.hcl", "*.tfstate", "*.tfplan", "zz_ci_override.tf")
        for p in TF_SOURCE.rglob(pattern)
    ]
    assert not litter, f"generated files in infra/terraform: {[str(Path(p).relative_to(TF_SOURCE)) for p in litter]}"
