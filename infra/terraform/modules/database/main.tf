# PostgreSQL for coffer: either one RDS instance (storage autoscaling up to a
# ceiling, Multi-AZ optional, optional read replica) or Aurora PostgreSQL
# Serverless v2 (capacity range in ACUs, writer + readers across AZs), optionally
# fronted by RDS Proxy so many API tasks share a bounded number of connections.
#
# Always: customer-managed KMS key, master password managed by RDS in Secrets
# Manager (never in Terraform state), IAM database authentication, TLS forced
# (rds.force_ssl), automated backups, Performance Insights, enhanced monitoring,
# log export, not publicly accessible; alarms to SNS.

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

variable "engine" {
  description = "\"postgres\" (RDS instance) or \"aurora-postgresql\" (Aurora Serverless v2)."
  type        = string
  validation {
    condition     = contains(["postgres", "aurora-postgresql"], var.engine)
    error_message = "engine must be postgres or aurora-postgresql."
  }
}

variable "postgres_major_version" {
  type    = string
  default = "16"
}

variable "aurora_engine_version" {
  type    = string
  default = "16.6"
}

variable "instance_class" {
  type    = string
  default = "db.t4g.micro"
}

variable "multi_az" {
  type = bool
}

variable "read_replica" {
  description = "RDS instance only: add one read replica (and its replica-lag alarm)."
  type        = bool
  default     = false
}

variable "allocated_storage" {
  type    = number
  default = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (RDS instance)."
  type        = number
  default     = 100
}

variable "aurora_min_capacity" {
  type    = number
  default = 0.5
}

variable "aurora_max_capacity" {
  type    = number
  default = 8
}

variable "aurora_instance_count" {
  description = "Writer plus readers; 2 or more spreads the cluster over AZs."
  type        = number
  default     = 2
}

variable "backup_retention_days" {
  type    = number
  default = 7
}

variable "deletion_protection" {
  type    = bool
  default = true
}

variable "database_name" {
  type    = string
  default = "coffer"
}

variable "master_username" {
  type    = string
  default = "coffer_admin"
}

variable "subnet_ids" {
  type = list(string)
}

variable "security_group_id" {
  type = string
}

variable "proxy_enabled" {
  type = bool
}

variable "proxy_security_group_id" {
  type    = string
  default = null
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type = number
}

variable "alarm_topic_arn" {
  type = string
}

variable "connections_alarm_threshold" {
  description = "DatabaseConnections above this alarms (about 80% of max_connections)."
  type        = number
}

variable "free_storage_alarm_bytes" {
  type    = number
  default = 5368709120 # 5 GiB
}

variable "tags" {
  type    = map(string)
  default = {}
}

data "aws_partition" "current" {}

locals {
  aurora     = var.engine == "aurora-postgresql"
  identifier = var.name
  log_types  = ["postgresql", "upgrade"]
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

resource "aws_iam_role" "monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

# Pre-created so exported database logs get retention and KMS.
resource "aws_cloudwatch_log_group" "exports" {
  for_each          = toset(local.aurora ? ["postgresql"] : local.log_types)
  name              = local.aurora ? "/aws/rds/cluster/${local.identifier}/${each.key}" : "/aws/rds/instance/${local.identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

# ---- RDS instance ---------------------------------------------------------

resource "aws_db_parameter_group" "this" {
  count  = local.aurora ? 0 : 1
  name   = "${var.name}-pg${var.postgres_major_version}"
  family = "postgres${var.postgres_major_version}"

  # TLS only; slow statements, DDL, connections and lock waits are logged. Written out (not a
  # dynamic block over a shared map) because checkov's HCL scan cannot see into dynamic blocks.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ follows the cost profile: single-AZ in starter by design, multi_az=true in hardened (asserted by terraform test).
  count                               = local.aurora ? 0 : 1
  identifier                          = local.identifier
  engine                              = "postgres"
  engine_version                      = var.postgres_major_version
  instance_class                      = var.instance_class
  db_name                             = var.database_name
  username                            = var.master_username
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true
  parameter_group_name                = aws_db_parameter_group.this[0].name
  db_subnet_group_name                = aws_db_subnet_group.this.name
  vpc_security_group_ids              = [var.security_group_id]
  publicly_accessible                 = false
  multi_az                            = var.multi_az
  storage_type                        = "gp3"
  allocated_storage                   = var.allocated_storage
  max_allocated_storage               = var.max_allocated_storage
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  backup_retention_period             = var.backup_retention_days
  backup_window                       = "03:00-04:00"
  maintenance_window                  = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.identifier}-final"
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  ca_cert_identifier                  = "rds-ca-rsa2048-g1"
  enabled_cloudwatch_logs_exports     = local.log_types
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  tags                                = var.tags

  depends_on = [aws_cloudwatch_log_group.exports, aws_iam_role_policy_attachment.monitoring]
}

resource "aws_db_instance" "replica" {
  #checkov:skip=CKV_AWS_157:A read replica is itself the redundancy; its source carries Multi-AZ.
  #checkov:skip=CKV_AWS_133:Read replicas of PostgreSQL take no automated backups; the source instance is backed up.
  count                               = !local.aurora && var.read_replica ? 1 : 0
  identifier                          = "${local.identifier}-replica"
  replicate_source_db                 = aws_db_instance.this[0].identifier
  instance_class                      = var.instance_class
  parameter_group_name                = aws_db_parameter_group.this[0].name
  vpc_security_group_ids              = [var.security_group_id]
  publicly_accessible                 = false
  storage_type                        = "gp3"
  max_allocated_storage               = var.max_allocated_storage
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  iam_database_authentication_enabled = true
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = true
  auto_minor_version_upgrade          = true
  ca_cert_identifier                  = "rds-ca-rsa2048-g1"
  enabled_cloudwatch_logs_exports     = local.log_types
  performance_insights_enabled        = true
  performance_insights_kms_key_id     = var.kms_key_arn
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.monitoring.arn
  tags                                = var.tags
}

# ---- Aurora Serverless v2 -------------------------------------------------

resource "aws_rds_cluster_parameter_group" "this" {
  count  = local.aurora ? 1 : 0
  name   = "${var.name}-aurora-pg${split(".", var.aurora_engine_version)[0]}"
  family = "aurora-postgresql${split(".", var.aurora_engine_version)[0]}"

  # TLS only; slow statements, DDL, connections and lock waits are logged. Written out (not a
  # dynamic block over a shared map) because checkov's HCL scan cannot see into dynamic blocks.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_rds_cluster" "this" {
  #checkov:skip=CKV2_AWS_8:Automated backups with retention and PITR are configured; an AWS Backup plan is an optional organisation-level add-on.
  count                               = local.aurora ? 1 : 0
  cluster_identifier                  = local.identifier
  engine                              = "aurora-postgresql"
  engine_mode                         = "provisioned"
  engine_version                      = var.aurora_engine_version
  database_name                       = var.database_name
  master_username                     = var.master_username
  manage_master_user_password         = true
  master_user_secret_kms_key_id       = var.kms_key_arn
  iam_database_authentication_enabled = true
  db_subnet_group_name                = aws_db_subnet_group.this.name
  db_cluster_parameter_group_name     = aws_rds_cluster_parameter_group.this[0].name
  vpc_security_group_ids              = [var.security_group_id]
  storage_encrypted                   = true
  kms_key_id                          = var.kms_key_arn
  backup_retention_period             = var.backup_retention_days
  preferred_backup_window             = "03:00-04:00"
  preferred_maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot               = true
  deletion_protection                 = var.deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.identifier}-final"
  enabled_cloudwatch_logs_exports     = ["postgresql"]
  tags                                = var.tags

  serverlessv2_scaling_configuration {
    min_capacity = var.aurora_min_capacity
    max_capacity = var.aurora_max_capacity
  }

  depends_on = [aws_cloudwatch_log_group.exports]
}

resource "aws_rds_cluster_instance" "this" {
  count                           = local.aurora ? var.aurora_instance_count : 0
  identifier                      = "${local.identifier}-${count.index}"
  cluster_identifier              = aws_rds_cluster.this[0].id
  engine                          = aws_rds_cluster.this[0].engine
  engine_version                  = aws_rds_cluster.this[0].engine_version
  instance_class                  = "db.serverless"
  db_subnet_group_name            = aws_db_subnet_group.this.name
  publicly_accessible             = false
  auto_minor_version_upgrade      = true
  ca_cert_identifier              = "rds-ca-rsa2048-g1"
  performance_insights_enabled    = true
  performance_insights_kms_key_id = var.kms_key_arn
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.monitoring.arn
  copy_tags_to_snapshot           = true
  tags                            = var.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}

locals {
  master_secret_arn = local.aurora ? aws_rds_cluster.this[0].master_user_secret[0].secret_arn : aws_db_instance.this[0].master_user_secret[0].secret_arn
  db_endpoint       = local.aurora ? aws_rds_cluster.this[0].endpoint : aws_db_instance.this[0].address
}

# ---- RDS Proxy ------------------------------------------------------------

# Logins the proxy may use on behalf of clients, as {"username","password"}
# JSON. The values are put by an operator once (see infra/README.md); Terraform
# never sees them.
resource "aws_secretsmanager_secret" "proxy_login" {
  #checkov:skip=CKV2_AWS_57:Application login passwords are rotated by the operator together with the DATABASE_URL secrets (README); RDS rotates the master secret itself.
  for_each                = var.proxy_enabled ? toset(["app", "bot"]) : toset([])
  name                    = "${var.name}/db-login/${each.key}"
  description             = "RDS Proxy login for the ${each.key} database user (JSON username/password)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7
  tags                    = var.tags
}

resource "aws_iam_role" "proxy" {
  count = var.proxy_enabled ? 1 : 0
  name  = "${var.name}-rds-proxy"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "proxy" {
  count = var.proxy_enabled ? 1 : 0
  name  = "read-login-secrets"
  role  = aws_iam_role.proxy[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = concat([local.master_secret_arn], [for s in aws_secretsmanager_secret.proxy_login : s.arn])
      },
      {
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = var.kms_key_arn
        Condition = { StringLike = { "kms:ViaService" = "secretsmanager.*.amazonaws.com" } }
      },
    ]
  })
}

resource "aws_db_proxy" "this" {
  count                  = var.proxy_enabled ? 1 : 0
  name                   = var.name
  engine_family          = "POSTGRESQL"
  require_tls            = true
  idle_client_timeout    = 1800
  debug_logging          = false
  role_arn               = aws_iam_role.proxy[0].arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [var.proxy_security_group_id]

  dynamic "auth" {
    for_each = concat([local.master_secret_arn], [for k in ["app", "bot"] : aws_secretsmanager_secret.proxy_login[k].arn])
    content {
      auth_scheme               = "SECRETS"
      client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
      iam_auth                  = "DISABLED"
      secret_arn                = auth.value
    }
  }

  tags = var.tags
}

resource "aws_db_proxy_default_target_group" "this" {
  count         = var.proxy_enabled ? 1 : 0
  db_proxy_name = aws_db_proxy.this[0].name

  connection_pool_config {
    max_connections_percent      = 90
    max_idle_connections_percent = 50
    connection_borrow_timeout    = 120
  }
}

resource "aws_db_proxy_target" "this" {
  count                  = var.proxy_enabled ? 1 : 0
  db_proxy_name          = aws_db_proxy.this[0].name
  target_group_name      = aws_db_proxy_default_target_group.this[0].name
  db_instance_identifier = local.aurora ? null : aws_db_instance.this[0].identifier
  db_cluster_identifier  = local.aurora ? aws_rds_cluster.this[0].cluster_identifier : null
}

# ---- alarms ---------------------------------------------------------------

locals {
  db_dimensions = local.aurora ? { DBClusterIdentifier = local.identifier } : { DBInstanceIdentifier = local.identifier }

  alarms = merge(
    {
      cpu = {
        description = "Database CPU above 80% for 10 minutes."
        metric      = "CPUUtilization"
        statistic   = "Average"
        comparison  = "GreaterThanThreshold"
        threshold   = 80
        dimensions  = local.db_dimensions
      }
      connections = {
        description = "Database connections near max_connections: lower COFFER_DB_POOL_MAX_SIZE x tasks or enable RDS Proxy."
        metric      = "DatabaseConnections"
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = var.connections_alarm_threshold
        dimensions  = local.db_dimensions
      }
      free_storage = {
        description = local.aurora ? "Aurora local (temp) storage running low." : "Free storage low: storage autoscaling is reaching max_allocated_storage."
        metric      = local.aurora ? "FreeLocalStorage" : "FreeStorageSpace"
        statistic   = "Minimum"
        comparison  = "LessThanThreshold"
        threshold   = var.free_storage_alarm_bytes
        dimensions  = local.db_dimensions
      }
    },
    local.aurora ? {
      replica_lag = {
        description = "Aurora replica lag above 1 second."
        metric      = "AuroraReplicaLagMaximum"
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = 1000
        dimensions  = local.db_dimensions
      }
      capacity = {
        description = "Aurora Serverless v2 near its max ACUs: raise aurora_max_capacity."
        metric      = "ACUUtilization"
        statistic   = "Average"
        comparison  = "GreaterThanThreshold"
        threshold   = 90
        dimensions  = local.db_dimensions
      }
    } : {},
    !local.aurora && var.read_replica ? {
      replica_lag = {
        description = "Read replica more than 60 seconds behind."
        metric      = "ReplicaLag"
        statistic   = "Maximum"
        comparison  = "GreaterThanThreshold"
        threshold   = 60
        dimensions  = { DBInstanceIdentifier = "${local.identifier}-replica" }
      }
    } : {},
  )
}

resource "aws_cloudwatch_metric_alarm" "db" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-db-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = "AWS/RDS"
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 2
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = "missing"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}

output "endpoint" {
  description = "Host the applications connect to (RDS Proxy when enabled)."
  value       = var.proxy_enabled ? aws_db_proxy.this[0].endpoint : local.db_endpoint
}

output "writer_endpoint" {
  value = local.db_endpoint
}

output "port" {
  value = 5432
}

output "database_name" {
  value = var.database_name
}

output "master_user_secret_arn" {
  value = local.master_secret_arn
}

output "proxy_login_secret_arns" {
  value = { for k, s in aws_secretsmanager_secret.proxy_login : k => s.arn }
}

output "alarm_names" {
  value = { for k, a in aws_cloudwatch_metric_alarm.db : k => a.alarm_name }
}

# Whole resource objects, for composition and for the roots' `terraform test`
# assertions (tests cannot read a child module's resources directly).
output "instance" {
  value     = local.aurora ? null : aws_db_instance.this[0]
  sensitive = true
}

output "replica" {
  value     = length(aws_db_instance.replica) == 0 ? null : aws_db_instance.replica[0]
  sensitive = true
}

output "cluster" {
  value     = local.aurora ? aws_rds_cluster.this[0] : null
  sensitive = true
}

output "cluster_instances" {
  value = aws_rds_cluster_instance.this
}

output "proxy" {
  value = var.proxy_enabled ? aws_db_proxy.this[0] : null
}

output "proxy_target_group" {
  value = var.proxy_enabled ? aws_db_proxy_default_target_group.this[0] : null
}

output "parameter_group" {
  value = local.aurora ? aws_rds_cluster_parameter_group.this[0] : aws_db_parameter_group.this[0]
}

output "alarms" {
  value = aws_cloudwatch_metric_alarm.db
}
