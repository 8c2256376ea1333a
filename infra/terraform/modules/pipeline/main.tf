# Zero-click delivery: GitHub (CodeStar connection) -> Build (CodeBuild runs the
# repository's buildspec.yml) -> Migrate (`coffer db upgrade` as a one-off
# Fargate task inside the VPC, with the new image, before any traffic moves)
# -> Deploy (api: CodeDeploy blue/green with test listener and rollback on
# failure or alarm; bot: standard ECS rolling deploy with 0%/100%).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "name" {
  type = string
}

variable "account_id" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "artifact_bucket_name" {
  type = string
}

variable "access_log_bucket" {
  type = string
}

variable "github_repository" {
  description = "owner/name of the GitHub repository."
  type        = string
}

variable "branch" {
  type    = string
  default = "main"
}

variable "build_environment" {
  description = "Plain-text environment variables for buildspec.yml (names listed in infra/README.md)."
  type        = map(string)
}

variable "build_compute_type" {
  type    = string
  default = "BUILD_GENERAL1_MEDIUM"
}

variable "build_image" {
  type    = string
  default = "aws/codebuild/standard:7.0"
}

variable "ecr_repository_arns" {
  type = list(string)
}

variable "cluster_name" {
  type = string
}

variable "cluster_arn" {
  type = string
}

variable "api_service_name" {
  type = string
}

variable "bot_service_name" {
  type = string
}

variable "migrate_task_family" {
  type = string
}

variable "migrate_subnet_ids" {
  type = list(string)
}

variable "migrate_security_group_ids" {
  type = list(string)
}

variable "migrate_assign_public_ip" {
  type = bool
}

variable "passable_role_arns" {
  description = "Task and execution roles the pipeline may hand to ECS."
  type        = list(string)
}

variable "https_listener_arn" {
  type = string
}

variable "test_listener_arn" {
  type = string
}

variable "target_group_names" {
  description = "[blue, green]"
  type        = list(string)
}

variable "rollback_alarm_names" {
  type = list(string)
}

variable "deployment_config_name" {
  type    = string
  default = "CodeDeployDefault.ECSAllAtOnce"
}

variable "tags" {
  type    = map(string)
  default = {}
}

data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  projects  = ["build", "migrate"]
}

module "artifacts" {
  source            = "../s3-bucket"
  name              = var.artifact_bucket_name
  kms_key_arn       = var.kms_key_arn
  access_log_bucket = var.access_log_bucket
  # Pipeline artifacts are only needed for rollbacks of recent releases.
  expire_current_after_days    = 90
  expire_noncurrent_after_days = 30
  tags                         = var.tags
}

# Created PENDING: someone with admin rights on the GitHub organisation finishes
# the handshake once in the console (Developer Tools > Settings > Connections).
resource "aws_codestarconnections_connection" "github" {
  name          = substr("${var.name}-github", 0, 32)
  provider_type = "GitHub"
  tags          = var.tags
}

resource "aws_cloudwatch_log_group" "codebuild" {
  for_each          = toset(local.projects)
  name              = "/coffer/${var.name}/codebuild/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---- CodeBuild: build -----------------------------------------------------

resource "aws_iam_role" "codebuild" {
  for_each = toset(local.projects)
  name     = "${var.name}-codebuild-${each.key}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "codebuild.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

locals {
  codebuild_common_statements = {
    for p in local.projects : p => [
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = ["${aws_cloudwatch_log_group.codebuild[p].arn}:*"]
      },
      {
        Sid      = "Artifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
        Resource = ["${module.artifacts.arn}/*"]
      },
      {
        Sid      = "ArtifactKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
        Resource = [var.kms_key_arn]
      },
      {
        Sid      = "TestReports"
        Effect   = "Allow"
        Action   = ["codebuild:CreateReportGroup", "codebuild:CreateReport", "codebuild:UpdateReport", "codebuild:BatchPutTestCases", "codebuild:BatchPutCodeCoverages"]
        Resource = ["arn:${local.partition}:codebuild:${local.region}:${var.account_id}:report-group/${var.name}-${p}-*"]
      },
    ]
  }
}

resource "aws_iam_role_policy" "codebuild_build" {
  name = "build-and-push"
  role = aws_iam_role.codebuild["build"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.codebuild_common_statements["build"], [
      {
        Sid      = "EcrAuth"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PushImages"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:BatchGetImage",
          "ecr:CompleteLayerUpload",
          "ecr:DescribeImages",
          "ecr:GetDownloadUrlForLayer",
          "ecr:InitiateLayerUpload",
          "ecr:PutImage",
          "ecr:UploadLayerPart",
        ]
        Resource = var.ecr_repository_arns
      },
      {
        Sid      = "ReadTaskDefinitions"
        Effect   = "Allow"
        Action   = "ecs:DescribeTaskDefinition"
        Resource = "*"
      },
    ])
  })
}

resource "aws_codebuild_project" "build" {
  #checkov:skip=CKV_AWS_316:Privileged mode is required to run the Docker daemon that builds the coffer-api and coffer-bot images.
  name           = "${var.name}-build"
  description    = "Runs buildspec.yml: tests, docker build, push to ECR, writes the deploy artifacts."
  service_role   = aws_iam_role.codebuild["build"].arn
  encryption_key = var.kms_key_arn
  build_timeout  = 60

  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec.yml"
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type            = "LINUX_CONTAINER"
    compute_type    = var.build_compute_type
    image           = var.build_image
    privileged_mode = true

    dynamic "environment_variable" {
      for_each = var.build_environment
      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild["build"].name
    }
    s3_logs {
      status = "DISABLED"
    }
  }

  tags = var.tags
}

# ---- CodeBuild: migrate ---------------------------------------------------

locals {
  migrate_task_def_arn_pattern = "arn:${local.partition}:ecs:${local.region}:${var.account_id}:task-definition/${var.migrate_task_family}:*"

  # Registers a revision of the migrate family with the freshly built API image
  # (from imageDetail.json in the build output), runs it once on Fargate in the
  # tasks' subnets and security group, and fails the stage unless
  # `coffer db upgrade` exits 0.
  migrate_buildspec = <<-YAML
    version: 0.2
    env:
      shell: bash
    phases:
      build:
        commands:
          - |
            set -euo pipefail
            IMAGE_URI=$(jq -r '.ImageURI' imageDetail.json)
            echo "coffer db upgrade with $IMAGE_URI"
            aws ecs describe-task-definition --task-definition "$COFFER_MIGRATE_TASK_FAMILY" --query taskDefinition > current.json
            jq --arg img "$IMAGE_URI" '{family, taskRoleArn, executionRoleArn, networkMode, requiresCompatibilities, cpu, memory, runtimePlatform, volumes, containerDefinitions: (.containerDefinitions | map(.image = $img))}' current.json > next.json
            TD_ARN=$(aws ecs register-task-definition --cli-input-json file://next.json --query taskDefinition.taskDefinitionArn --output text)
            TASK_ARN=$(aws ecs run-task --cluster "$COFFER_ECS_CLUSTER" --task-definition "$TD_ARN" --launch-type FARGATE --started-by codepipeline-migrate \
              --network-configuration "awsvpcConfiguration={subnets=[$COFFER_MIGRATE_SUBNETS],securityGroups=[$COFFER_MIGRATE_SECURITY_GROUPS],assignPublicIp=$COFFER_MIGRATE_ASSIGN_PUBLIC_IP}" \
              --query 'tasks[0].taskArn' --output text)
            test -n "$TASK_ARN" && test "$TASK_ARN" != "None"
            for attempt in 1 2 3 4 5 6; do
              aws ecs wait tasks-stopped --cluster "$COFFER_ECS_CLUSTER" --tasks "$TASK_ARN" && break
            done
            EXIT_CODE=$(aws ecs describe-tasks --cluster "$COFFER_ECS_CLUSTER" --tasks "$TASK_ARN" --query 'tasks[0].containers[0].exitCode' --output text)
            echo "coffer db upgrade exited with $EXIT_CODE (logs: /coffer/${var.name}/migrate)"
            test "$EXIT_CODE" = "0"
  YAML
}

resource "aws_iam_role_policy" "codebuild_migrate" {
  name = "run-migration-task"
  role = aws_iam_role.codebuild["migrate"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.codebuild_common_statements["migrate"], [
      {
        Sid      = "TaskDefinitions"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
        Resource = "*"
      },
      {
        Sid       = "RunMigrateTask"
        Effect    = "Allow"
        Action    = "ecs:RunTask"
        Resource  = local.migrate_task_def_arn_pattern
        Condition = { ArnEquals = { "ecs:cluster" = var.cluster_arn } }
      },
      {
        Sid      = "WatchMigrateTask"
        Effect   = "Allow"
        Action   = "ecs:DescribeTasks"
        Resource = "arn:${local.partition}:ecs:${local.region}:${var.account_id}:task/${var.cluster_name}/*"
      },
      {
        Sid       = "PassTaskRoles"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = var.passable_role_arns
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ])
  })
}

resource "aws_codebuild_project" "migrate" {
  name           = "${var.name}-migrate"
  description    = "Runs `coffer db upgrade` with the new image as a Fargate task in the VPC."
  service_role   = aws_iam_role.codebuild["migrate"].arn
  encryption_key = var.kms_key_arn
  build_timeout  = 75

  source {
    type      = "CODEPIPELINE"
    buildspec = local.migrate_buildspec
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type            = "LINUX_CONTAINER"
    compute_type    = "BUILD_GENERAL1_SMALL"
    image           = var.build_image
    privileged_mode = false

    dynamic "environment_variable" {
      for_each = {
        COFFER_ECS_CLUSTER              = var.cluster_name
        COFFER_MIGRATE_TASK_FAMILY      = var.migrate_task_family
        COFFER_MIGRATE_SUBNETS          = join(",", var.migrate_subnet_ids)
        COFFER_MIGRATE_SECURITY_GROUPS  = join(",", var.migrate_security_group_ids)
        COFFER_MIGRATE_ASSIGN_PUBLIC_IP = var.migrate_assign_public_ip ? "ENABLED" : "DISABLED"
      }
      content {
        name  = environment_variable.key
        value = environment_variable.value
        type  = "PLAINTEXT"
      }
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.codebuild["migrate"].name
    }
    s3_logs {
      status = "DISABLED"
    }
  }

  tags = var.tags
}

# ---- CodeDeploy (api blue/green) ------------------------------------------

resource "aws_iam_role" "codedeploy" {
  name = "${var.name}-codedeploy"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "codedeploy.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "codedeploy" {
  role       = aws_iam_role.codedeploy.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSCodeDeployRoleForECS"
}

resource "aws_codedeploy_app" "api" {
  name             = "${var.name}-api"
  compute_platform = "ECS"
  tags             = var.tags
}

resource "aws_codedeploy_deployment_group" "api" {
  app_name               = aws_codedeploy_app.api.name
  deployment_group_name  = "${var.name}-api"
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = var.deployment_config_name

  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }

  alarm_configuration {
    enabled = true
    alarms  = var.rollback_alarm_names
  }

  blue_green_deployment_config {
    deployment_ready_option {
      action_on_timeout = "CONTINUE_DEPLOYMENT"
    }

    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = 10
    }
  }

  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }

  ecs_service {
    cluster_name = var.cluster_name
    service_name = var.api_service_name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [var.https_listener_arn]
      }

      test_traffic_route {
        listener_arns = [var.test_listener_arn]
      }

      target_group {
        name = var.target_group_names[0]
      }

      target_group {
        name = var.target_group_names[1]
      }
    }
  }

  tags = var.tags
}

# ---- CodePipeline ---------------------------------------------------------

resource "aws_iam_role" "codepipeline" {
  name = "${var.name}-codepipeline"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "codepipeline.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "codepipeline" {
  name = "run-pipeline"
  role = aws_iam_role.codepipeline.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "Source"
        Effect   = "Allow"
        Action   = "codestar-connections:UseConnection"
        Resource = aws_codestarconnections_connection.github.arn
      },
      {
        Sid      = "Artifacts"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketVersioning", "s3:PutObject", "s3:PutObjectAcl"]
        Resource = [module.artifacts.arn, "${module.artifacts.arn}/*"]
      },
      {
        Sid      = "ArtifactKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:DescribeKey"]
        Resource = [var.kms_key_arn]
      },
      {
        Sid      = "Builds"
        Effect   = "Allow"
        Action   = ["codebuild:StartBuild", "codebuild:BatchGetBuilds"]
        Resource = [aws_codebuild_project.build.arn, aws_codebuild_project.migrate.arn]
      },
      {
        Sid    = "BlueGreen"
        Effect = "Allow"
        Action = [
          "codedeploy:CreateDeployment",
          "codedeploy:GetApplication",
          "codedeploy:GetApplicationRevision",
          "codedeploy:GetDeployment",
          "codedeploy:GetDeploymentConfig",
          "codedeploy:RegisterApplicationRevision",
        ]
        Resource = [
          aws_codedeploy_app.api.arn,
          "arn:${local.partition}:codedeploy:${local.region}:${var.account_id}:deploymentgroup:${aws_codedeploy_app.api.name}/${aws_codedeploy_deployment_group.api.deployment_group_name}",
          "arn:${local.partition}:codedeploy:${local.region}:${var.account_id}:deploymentconfig:*",
        ]
      },
      {
        Sid      = "TaskDefinitions"
        Effect   = "Allow"
        Action   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
        Resource = "*"
      },
      {
        Sid      = "RollBot"
        Effect   = "Allow"
        Action   = ["ecs:DescribeServices", "ecs:UpdateService"]
        Resource = "arn:${local.partition}:ecs:${local.region}:${var.account_id}:service/${var.cluster_name}/${var.bot_service_name}"
      },
      {
        Sid       = "PassTaskRoles"
        Effect    = "Allow"
        Action    = "iam:PassRole"
        Resource  = var.passable_role_arns
        Condition = { StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" } }
      },
    ]
  })
}

resource "aws_codepipeline" "this" {
  name           = var.name
  role_arn       = aws_iam_role.codepipeline.arn
  pipeline_type  = "V2"
  execution_mode = "QUEUED"

  artifact_store {
    location = module.artifacts.id
    type     = "S3"

    encryption_key {
      id   = var.kms_key_arn
      type = "KMS"
    }
  }

  stage {
    name = "Source"

    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      output_artifacts = ["SourceOutput"]
      configuration = {
        ConnectionArn        = aws_codestarconnections_connection.github.arn
        FullRepositoryId     = var.github_repository
        BranchName           = var.branch
        OutputArtifactFormat = "CODE_ZIP"
        DetectChanges        = "true"
      }
    }
  }

  stage {
    name = "Build"
    action {
      name             = "Build"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["SourceOutput"]
      output_artifacts = ["BuildOutput"]
      configuration = {
        ProjectName = aws_codebuild_project.build.name
      }
    }
  }

  stage {
    name = "Migrate"
    action {
      name            = "Migrate"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      input_artifacts = ["BuildOutput"]
      configuration = {
        ProjectName = aws_codebuild_project.migrate.name
      }
    }
  }

  stage {
    name = "Deploy"

    action {
      name            = "Api"
      category        = "Deploy"
      owner           = "AWS"
      provider        = "CodeDeployToECS"
      version         = "1"
      run_order       = 1
      input_artifacts = ["BuildOutput"]
      configuration = {
        ApplicationName                = aws_codedeploy_app.api.name
        DeploymentGroupName            = aws_codedeploy_deployment_group.api.deployment_group_name
        TaskDefinitionTemplateArtifact = "BuildOutput"
        TaskDefinitionTemplatePath     = "taskdef.json"
        AppSpecTemplateArtifact        = "BuildOutput"
        AppSpecTemplatePath            = "appspec.yaml"
        Image1ArtifactName             = "BuildOutput"
        Image1ContainerName            = "IMAGE1_NAME"
      }
    }

    action {
      name            = "Bot"
      category        = "Deploy"
      owner           = "AWS"
      provider        = "ECS"
      version         = "1"
      run_order       = 2
      input_artifacts = ["BuildOutput"]
      configuration = {
        ClusterName       = var.cluster_name
        ServiceName       = var.bot_service_name
        FileName          = "imagedefinitions.json"
        DeploymentTimeout = "15"
      }
    }
  }

  tags = var.tags
}

output "pipeline_name" {
  value = aws_codepipeline.this.name
}

output "connection_arn" {
  value = aws_codestarconnections_connection.github.arn
}

output "artifact_bucket" {
  value = module.artifacts.id
}

output "build_project_name" {
  value = aws_codebuild_project.build.name
}

output "migrate_project_name" {
  value = aws_codebuild_project.migrate.name
}

output "build_environment" {
  value = var.build_environment
}

# Whole resource objects, for the root's `terraform test` assertions.
output "codepipeline" {
  value = aws_codepipeline.this
}

output "codebuild_projects" {
  value = { build = aws_codebuild_project.build, migrate = aws_codebuild_project.migrate }
}

output "codedeploy_deployment_group" {
  value = aws_codedeploy_deployment_group.api
}

output "artifact_bucket_encryption" {
  value = module.artifacts.encryption
}

output "artifact_bucket_versioning" {
  value = module.artifacts.versioning
}

output "artifact_bucket_public_access_block" {
  value = module.artifacts.public_access_block
}
