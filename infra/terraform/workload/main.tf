# coffer workload root: one environment (prod, staging, ...) in its own account.

data "aws_partition" "current" {
  provider = aws.workload
}

data "aws_region" "current" {
  provider = aws.workload
}

# Static per-region ELB log-delivery account (no API call).
data "aws_elb_service_account" "current" {
  provider = aws.workload
}

locals {
  name      = "coffer-${var.environment}"
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  tags = merge(var.tags, {
    Project     = "coffer"
    Environment = var.environment
    Profile     = var.profile
    ManagedBy   = "terraform"
  })

  availability_zones = coalesce(var.availability_zones, ["${var.region}a", "${var.region}b"])

  # The two cost profiles (value: hardened ? hardened : starter). Both are
  # secure; they differ in redundancy and size. Connection budget:
  # api_max_count x api_workers x db_pool_max_size (+ bot) stays under ~80% of
  # the database's max_connections (RDS Proxy multiplexes in hardened).
  hardened = var.profile == "hardened"
  p = {
    # starter: no NAT gateway, tasks in public subnets with public IPs whose SG
    # admits only the ALB; hardened: private subnets, one NAT gateway per AZ.
    nat_gateways             = local.hardened ? true : false
    tasks_in_public_subnets  = local.hardened ? false : true
    db_instance_class        = local.hardened ? "db.m7g.large" : "db.t4g.micro"
    db_multi_az              = local.hardened ? true : false
    db_allocated_storage     = local.hardened ? 50 : 20
    db_max_allocated_storage = local.hardened ? 1000 : 100
    db_backup_retention_days = local.hardened ? 14 : 7
    db_proxy                 = local.hardened ? true : false
    db_connections_alarm     = local.hardened ? 700 : 60 # max_connections: m7g.large ~900, t4g.micro ~80
    api_cpu                  = local.hardened ? 1024 : 256
    api_memory               = local.hardened ? 2048 : 512
    bot_cpu                  = 256
    bot_memory               = 512
    api_min_count            = local.hardened ? 2 : 1
    api_max_count            = local.hardened ? 20 : 3
    api_workers              = local.hardened ? 2 : 1
    db_pool_max_size         = local.hardened ? 10 : 5 # 20 x 2 x 10 = 400 into RDS Proxy; 3 x 1 x 5 = 15
    deployment_config        = local.hardened ? "CodeDeployDefault.ECSCanary10Percent5Minutes" : "CodeDeployDefault.ECSAllAtOnce"
  }

  db_proxy_enabled = coalesce(var.db_proxy_enabled, local.p.db_proxy)
  api_min_count    = coalesce(var.api_min_count, local.p.api_min_count)
  api_max_count    = coalesce(var.api_max_count, local.p.api_max_count)
  task_subnet_ids  = local.p.tasks_in_public_subnets ? module.network.public_subnet_ids : module.network.private_subnet_ids
}

# ---- encryption key -------------------------------------------------------

# One customer-managed key for this environment's data at rest: RDS, Performance
# Insights, Secrets Manager, ECR, CloudWatch Logs, SNS, pipeline artifacts.
resource "aws_kms_key" "main" {
  provider                = aws.workload
  description             = "${local.name}: data at rest"
  enable_key_rotation     = true
  deletion_window_in_days = 30

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${var.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${var.account_id}:log-group:*" }
        }
      },
      {
        Sid       = "CloudWatchAlarmsToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  provider      = aws.workload
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}

# ---- alarms topic ---------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  provider          = aws.workload
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_policy" "alarms" {
  provider = aws.workload
  arn      = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CloudWatchAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms.arn
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      },
      {
        Sid       = "AccountManagesTopic"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${var.account_id}:root" }
        Action    = ["sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:ListSubscriptionsByTopic", "sns:Publish"]
        Resource  = aws_sns_topic.alarms.arn
      },
    ]
  })
}

resource "aws_sns_topic_subscription" "alarm_email" {
  provider  = aws.workload
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# ---- modules --------------------------------------------------------------

module "network" {
  source    = "../modules/network"
  providers = { aws = aws.workload }

  name               = local.name
  cidr_block         = var.vpc_cidr
  availability_zones = local.availability_zones
  nat_gateways       = local.p.nat_gateways
  kms_key_arn        = aws_kms_key.main.arn
  log_retention_days = var.log_retention_days
}

# Sink for ALB access logs and S3 server access logs (SSE-S3: neither log
# delivery supports SSE-KMS).
module "logs_bucket" {
  source    = "../modules/s3-bucket"
  providers = { aws = aws.workload }

  name                         = "${local.name}-logs-${var.account_id}"
  access_logging               = false
  expire_current_after_days    = var.log_retention_days
  expire_noncurrent_after_days = 30
  extra_policy_statements = [
    {
      Sid       = "AlbAccessLogs"
      Effect    = "Allow"
      Principal = { AWS = data.aws_elb_service_account.current.arn }
      Action    = "s3:PutObject"
      Resource  = "arn:${local.partition}:s3:::${local.name}-logs-${var.account_id}/alb/*"
    },
    {
      Sid       = "AlbAccessLogsDelivery"
      Effect    = "Allow"
      Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = "arn:${local.partition}:s3:::${local.name}-logs-${var.account_id}/alb/*"
    },
    {
      Sid       = "S3ServerAccessLogs"
      Effect    = "Allow"
      Principal = { Service = "logging.s3.amazonaws.com" }
      Action    = "s3:PutObject"
      Resource  = "arn:${local.partition}:s3:::${local.name}-logs-${var.account_id}/s3/*"
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    },
  ]
}

module "ecr" {
  source    = "../modules/ecr"
  providers = { aws = aws.workload }

  repositories = ["coffer-api", "coffer-bot"]
  kms_key_arn  = aws_kms_key.main.arn
}

module "edge" {
  source    = "../modules/edge"
  providers = { aws = aws.workload }

  name                  = local.name
  vpc_id                = module.network.vpc_id
  public_subnet_ids     = module.network.public_subnet_ids
  alb_security_group_id = aws_security_group.alb.id
  domain_name           = var.domain_name
  route53_zone_id       = var.route53_zone_id
  access_log_bucket     = module.logs_bucket.id
  waf_rate_limit        = var.waf_rate_limit
  kms_key_arn           = aws_kms_key.main.arn
  log_retention_days    = var.log_retention_days
  alarm_topic_arn       = aws_sns_topic.alarms.arn
}

module "database" {
  source    = "../modules/database"
  providers = { aws = aws.workload }

  name                        = local.name
  engine                      = var.database_engine
  instance_class              = coalesce(var.db_instance_class, local.p.db_instance_class)
  multi_az                    = local.p.db_multi_az
  read_replica                = var.db_read_replica
  allocated_storage           = local.p.db_allocated_storage
  max_allocated_storage       = coalesce(var.db_max_allocated_storage, local.p.db_max_allocated_storage)
  aurora_min_capacity         = var.aurora_min_capacity
  aurora_max_capacity         = var.aurora_max_capacity
  aurora_instance_count       = local.p.db_multi_az ? 2 : 1
  backup_retention_days       = local.p.db_backup_retention_days
  deletion_protection         = true
  subnet_ids                  = module.network.private_subnet_ids
  security_group_id           = aws_security_group.db.id
  proxy_enabled               = local.db_proxy_enabled
  proxy_security_group_id     = local.db_proxy_enabled ? aws_security_group.db_proxy[0].id : null
  kms_key_arn                 = aws_kms_key.main.arn
  log_retention_days          = var.log_retention_days
  alarm_topic_arn             = aws_sns_topic.alarms.arn
  connections_alarm_threshold = local.p.db_connections_alarm
}

module "ecs" {
  source    = "../modules/ecs"
  providers = { aws = aws.workload }

  name                  = local.name
  kms_key_arn           = aws_kms_key.main.arn
  log_retention_days    = var.log_retention_days
  subnet_ids            = local.task_subnet_ids
  assign_public_ip      = local.p.tasks_in_public_subnets
  api_security_group_id = aws_security_group.api.id
  bot_security_group_id = aws_security_group.bot.id
  api_repository_url    = module.ecr.repository_urls["coffer-api"]
  api_repository_arn    = module.ecr.repository_arns["coffer-api"]
  bot_repository_url    = module.ecr.repository_urls["coffer-bot"]
  bot_repository_arn    = module.ecr.repository_arns["coffer-bot"]
  initial_image_tag     = var.initial_image_tag
  cpu_architecture      = var.cpu_architecture

  api_cpu    = local.p.api_cpu
  api_memory = local.p.api_memory
  bot_cpu    = local.p.bot_cpu
  bot_memory = local.p.bot_memory

  api_environment = local.api_environment
  api_secrets     = local.api_secrets
  bot_environment = local.bot_environment
  bot_secrets     = local.bot_secrets

  api_target_group_arn      = module.edge.target_group_arns["blue"]
  alb_arn_suffix            = module.edge.alb_arn_suffix
  target_group_arn_suffixes = [module.edge.target_group_arn_suffixes["blue"], module.edge.target_group_arn_suffixes["green"]]

  api_min_count                = local.api_min_count
  api_max_count                = local.api_max_count
  api_requests_per_task_target = var.api_requests_per_task_target
  scale_out_cooldown           = 60
  scale_in_cooldown            = 300
}

# ---- ECS service alarms ---------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "api_at_max" {
  provider            = aws.workload
  alarm_name          = "${local.name}-api-at-max-tasks"
  alarm_description   = "The API has run at its maximum task count for 15 minutes: raise api_max_count (and check the database)."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = module.ecs.cluster_name, ServiceName = module.ecs.api_service_name }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  threshold           = local.api_max_count
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "bot_not_running" {
  provider            = aws.workload
  alarm_name          = "${local.name}-bot-not-running"
  alarm_description   = "No bot task has been running for 10 minutes."
  namespace           = "ECS/ContainerInsights"
  metric_name         = "RunningTaskCount"
  dimensions          = { ClusterName = module.ecs.cluster_name, ServiceName = module.ecs.bot_service_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
