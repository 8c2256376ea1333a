# ECS Fargate: the cluster (Container Insights), the api service (CodeDeploy
# blue/green; Terraform ignores what CodeDeploy changes), the bot service (ECS
# rolling deploy with 0%/100% so two bots never share a Discord token), the
# one-off migrate task family, least-privilege roles, KMS-encrypted log groups
# and the API's Application Auto Scaling.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "name" {
  description = "Environment prefix, e.g. coffer-prod."
  type        = string
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "subnet_ids" {
  description = "Subnets for the tasks (public in starter, private in hardened)."
  type        = list(string)
}

variable "assign_public_ip" {
  type = bool
}

variable "api_security_group_id" {
  type = string
}

variable "bot_security_group_id" {
  type = string
}

variable "api_repository_url" {
  type = string
}

variable "api_repository_arn" {
  type = string
}

variable "bot_repository_url" {
  type = string
}

variable "bot_repository_arn" {
  type = string
}

variable "initial_image_tag" {
  description = "Tag the first task definitions point at; the pipeline replaces it on its first run."
  type        = string
  default     = "bootstrap"
}

variable "container_port" {
  type    = number
  default = 8000
}

variable "api_cpu" {
  type = number
}

variable "api_memory" {
  type = number
}

variable "bot_cpu" {
  type = number
}

variable "bot_memory" {
  type = number
}

variable "cpu_architecture" {
  type    = string
  default = "X86_64"
}

variable "api_environment" {
  description = "Plain (non-secret) environment of the api container."
  type        = map(string)
}

variable "api_secrets" {
  description = "Environment variable name => Secrets Manager secret ARN for the api container."
  type        = map(string)
}

variable "bot_environment" {
  type = map(string)
}

variable "bot_secrets" {
  type = map(string)
}

variable "api_target_group_arn" {
  description = "The blue target group the service starts on."
  type        = string
}

variable "alb_arn_suffix" {
  type = string
}

variable "target_group_arn_suffixes" {
  description = "Both blue/green target group ARN suffixes (request metric follows whichever is live)."
  type        = list(string)
}

variable "api_min_count" {
  type = number
}

variable "api_max_count" {
  type = number
}

variable "api_requests_per_task_target" {
  description = "Target ALB requests per minute per API task."
  type        = number
  default     = 3000
}

variable "api_cpu_target" {
  type    = number
  default = 60
}

variable "scale_out_cooldown" {
  type    = number
  default = 60
}

variable "scale_in_cooldown" {
  description = "Longer than scale-out so a dip between waves of players does not flap the task count."
  type        = number
  default     = 300
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

  services = {
    api     = { cpu = var.api_cpu, memory = var.api_memory }
    bot     = { cpu = var.bot_cpu, memory = var.bot_memory }
    migrate = { cpu = var.api_cpu, memory = var.api_memory }
  }

  # Shared hardening of every container: read-only root filesystem with a
  # writable /tmp volume, uid 10001 (the images' `coffer` user), no privileges,
  # all Linux capabilities dropped, an init process, logs to CloudWatch.
  base_container = {
    essential              = true
    user                   = "10001"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters = {
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"], add = [] }
    }
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    volumesFrom = []
    stopTimeout = 30
  }

  api_env    = [for k in sort(keys(var.api_environment)) : { name = k, value = var.api_environment[k] }]
  api_secret = [for k in sort(keys(var.api_secrets)) : { name = k, valueFrom = var.api_secrets[k] }]
  bot_env    = [for k in sort(keys(var.bot_environment)) : { name = k, value = var.bot_environment[k] }]
  bot_secret = [for k in sort(keys(var.bot_secrets)) : { name = k, valueFrom = var.bot_secrets[k] }]

  containers = {
    api = merge(local.base_container, {
      name         = "api"
      image        = "${var.api_repository_url}:${var.initial_image_tag}"
      command      = ["coffer", "serve", "--host", "0.0.0.0", "--port", tostring(var.container_port)]
      portMappings = [{ containerPort = var.container_port, hostPort = var.container_port, protocol = "tcp" }]
      environment  = local.api_env
      secrets      = local.api_secret
      # Same liveness probe as deploy/write_artifacts.py writes into taskdef.json.
      healthCheck = {
        command     = ["CMD", "python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:${var.container_port}/healthz', timeout=4).status != 200)"]
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["api"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "api"
        }
      }
    })
    bot = merge(local.base_container, {
      name         = "bot"
      image        = "${var.bot_repository_url}:${var.initial_image_tag}"
      command      = ["coffer-bot"]
      portMappings = []
      environment  = local.bot_env
      secrets      = local.bot_secret
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["bot"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "bot"
        }
      }
    })
    # One-off `coffer db upgrade` with the api image, run by the pipeline's
    # Migrate stage before any traffic moves to a new version.
    migrate = merge(local.base_container, {
      name         = "api"
      image        = "${var.api_repository_url}:${var.initial_image_tag}"
      command      = ["coffer", "db", "upgrade"]
      portMappings = []
      environment  = local.api_env
      secrets      = local.api_secret
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.service["migrate"].name
          awslogs-region        = local.region
          awslogs-stream-prefix = "migrate"
        }
      }
    })
  }
}

# ---- logs -----------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  for_each          = toset(["api", "bot", "migrate", "ecs-exec"])
  name              = "/coffer/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---- cluster --------------------------------------------------------------

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  # ECS Exec stays disabled on the services; if someone enables it, sessions
  # are encrypted with the workload key and logged.
  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.service["ecs-exec"].name
      }
    }
  }

  tags = var.tags
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    weight            = 1
  }
}

# ---- IAM ------------------------------------------------------------------

locals {
  ecs_tasks_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  exec_role_access = {
    api = {
      repository = var.api_repository_arn
      log_groups = [aws_cloudwatch_log_group.service["api"].arn, aws_cloudwatch_log_group.service["migrate"].arn]
      secrets    = values(var.api_secrets)
    }
    bot = {
      repository = var.bot_repository_arn
      log_groups = [aws_cloudwatch_log_group.service["bot"].arn]
      secrets    = values(var.bot_secrets)
    }
  }
}

# Execution roles: what ECS needs to start the container (pull its image, write
# its log group, read exactly its secrets). One per service.
resource "aws_iam_role" "execution" {
  for_each           = local.exec_role_access
  name               = "${var.name}-${each.key}-execution"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.exec_role_access
  name     = "start-${each.key}"
  role     = aws_iam_role.execution[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "EcrAuth"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid      = "PullOwnImage"
        Effect   = "Allow"
        Action   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
        Resource = each.value.repository
      },
      {
        Sid      = "WriteOwnLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [for g in each.value.log_groups : "${g}:*"]
      },
      {
        Sid      = "ReadOwnSecrets"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = each.value.secrets
      },
      {
        Sid       = "DecryptSecretsAndImages"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = var.kms_key_arn
        Condition = { StringLike = { "kms:ViaService" = ["secretsmanager.*.amazonaws.com", "ecr.*.amazonaws.com"] } }
      },
    ]
  })
}

# Task roles: what the application itself may call in AWS. coffer calls no AWS
# API at run time, so these carry no permissions at all.
resource "aws_iam_role" "task" {
  for_each           = toset(["api", "bot"])
  name               = "${var.name}-${each.key}-task"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

# ---- task definitions -----------------------------------------------------

locals {
  task_roles = {
    api     = { task = "api", execution = "api" }
    bot     = { task = "bot", execution = "bot" }
    migrate = { task = "api", execution = "api" }
  }
}

resource "aws_ecs_task_definition" "this" {
  for_each                 = local.containers
  family                   = "${var.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(local.services[each.key].cpu)
  memory                   = tostring(local.services[each.key].memory)
  execution_role_arn       = aws_iam_role.execution[local.task_roles[each.key].execution].arn
  task_role_arn            = aws_iam_role.task[local.task_roles[each.key].task].arn
  container_definitions    = jsonencode([each.value])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  tags = var.tags
}

# ---- services -------------------------------------------------------------

resource "aws_ecs_service" "api" {
  #checkov:skip=CKV_AWS_333:Starter profile only (no NAT): tasks need a public IP for egress; their SG admits only the ALB SG (asserted by terraform test). Hardened sets assign_public_ip=false.
  name                              = "api"
  cluster                           = aws_ecs_cluster.this.id
  task_definition                   = aws_ecs_task_definition.this["api"].arn
  desired_count                     = var.api_min_count
  launch_type                       = "FARGATE"
  platform_version                  = "LATEST"
  health_check_grace_period_seconds = 60
  enable_execute_command            = false
  enable_ecs_managed_tags           = true
  propagate_tags                    = "SERVICE"

  deployment_controller {
    type = "CODE_DEPLOY"
  }

  load_balancer {
    target_group_arn = var.api_target_group_arn
    container_name   = "api"
    container_port   = var.container_port
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.api_security_group_id]
    assign_public_ip = var.assign_public_ip
  }

  tags = var.tags

  # CodeDeploy owns the task definition, the live target group and (with the
  # autoscaler) the task count; Terraform must not undo a deployment.
  lifecycle {
    ignore_changes = [task_definition, load_balancer, desired_count]
  }
}

resource "aws_ecs_service" "bot" {
  #checkov:skip=CKV_AWS_333:Starter profile only (no NAT): the bot needs a public IP to reach Discord; its SG has no ingress at all. Hardened sets assign_public_ip=false.
  name                    = "bot"
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.this["bot"].arn
  desired_count           = 1
  launch_type             = "FARGATE"
  platform_version        = "LATEST"
  enable_execute_command  = false
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # Stop the old bot before starting the new one: one Discord token, one
  # gateway session, never two bots answering the same command.
  deployment_minimum_healthy_percent = 0
  deployment_maximum_percent         = 100

  deployment_controller {
    type = "ECS"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.bot_security_group_id]
    assign_public_ip = var.assign_public_ip
  }

  tags = var.tags

  # The pipeline's ECS deploy action registers new revisions.
  lifecycle {
    ignore_changes = [task_definition]
  }
}

# ---- API autoscaling ------------------------------------------------------

resource "aws_appautoscaling_target" "api" {
  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.api.name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_min_count
  max_capacity       = var.api_max_count
  tags               = var.tags
}

# Requests per task, summed over BOTH blue/green target groups so the metric
# stays right after CodeDeploy swaps them (the predefined
# ALBRequestCountPerTarget metric is bound to a single target group).
resource "aws_appautoscaling_policy" "api_requests" {
  name               = "${var.name}-api-requests-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_requests_per_task_target
    scale_out_cooldown = var.scale_out_cooldown
    scale_in_cooldown  = var.scale_in_cooldown
    disable_scale_in   = false

    customized_metric_specification {
      dynamic "metrics" {
        for_each = { for i, s in var.target_group_arn_suffixes : "tg${i}" => s }
        content {
          id          = metrics.key
          label       = "ALB RequestCount ${metrics.value}"
          return_data = false
          metric_stat {
            stat = "Sum"
            metric {
              namespace   = "AWS/ApplicationELB"
              metric_name = "RequestCount"
              dimensions {
                name  = "LoadBalancer"
                value = var.alb_arn_suffix
              }
              dimensions {
                name  = "TargetGroup"
                value = metrics.value
              }
            }
          }
        }
      }

      metrics {
        id          = "tasks"
        label       = "Running API tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = aws_ecs_cluster.this.name
            }
            dimensions {
              name  = "ServiceName"
              value = aws_ecs_service.api.name
            }
          }
        }
      }

      metrics {
        id          = "requests_per_task"
        label       = "ALB requests per API task"
        expression  = "(${join(" + ", [for i, s in var.target_group_arn_suffixes : "FILL(tg${i}, 0)"])}) / tasks"
        return_data = true
      }
    }
  }
}

resource "aws_appautoscaling_policy" "api_cpu" {
  name               = "${var.name}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api.service_namespace
  resource_id        = aws_appautoscaling_target.api.resource_id
  scalable_dimension = aws_appautoscaling_target.api.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.api_cpu_target
    scale_out_cooldown = var.scale_out_cooldown
    scale_in_cooldown  = var.scale_in_cooldown
    disable_scale_in   = false

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

# ---- outputs --------------------------------------------------------------

output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  value = aws_ecs_cluster.this.arn
}

output "api_service_name" {
  value = aws_ecs_service.api.name
}

output "bot_service_name" {
  value = aws_ecs_service.bot.name
}

output "task_families" {
  value = { for k, t in aws_ecs_task_definition.this : k => t.family }
}

output "task_definition_arns" {
  value = { for k, t in aws_ecs_task_definition.this : k => t.arn }
}

output "task_role_arns" {
  value = { for k, r in aws_iam_role.task : k => r.arn }
}

output "execution_role_arns" {
  value = { for k, r in aws_iam_role.execution : k => r.arn }
}

output "log_group_names" {
  value = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

output "task_cpu_memory" {
  value = local.services
}

# Whole resource objects, for the root's `terraform test` assertions.
output "cluster" {
  value = aws_ecs_cluster.this
}

output "services" {
  value = { api = aws_ecs_service.api, bot = aws_ecs_service.bot }
}

output "task_definitions" {
  value = aws_ecs_task_definition.this
}

output "execution_role_policies" {
  value = aws_iam_role_policy.execution
}

output "log_groups" {
  value = aws_cloudwatch_log_group.service
}

output "autoscaling_target" {
  value = aws_appautoscaling_target.api
}

output "autoscaling_policies" {
  value = { requests = aws_appautoscaling_policy.api_requests, cpu = aws_appautoscaling_policy.api_cpu }
}
