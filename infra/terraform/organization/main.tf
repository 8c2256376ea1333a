# coffer organization root: run once, in the management account.
# Order inside one apply: organization -> Log Archive/Audit accounts -> Control
# Tower roles and KMS key -> landing zone (~60 min) -> guardrails, SCP,
# Identity Center, Account Factory accounts (~20 min each), GuardDuty and
# Security Hub delegated to Audit.

locals {
  tags = merge(var.tags, { Project = "coffer", ManagedBy = "terraform" })

  management_account_id = aws_organizations_organization.this.master_account_id
  root_id               = aws_organizations_organization.this.roots[0].id
}

resource "aws_organizations_organization" "this" {
  feature_set          = "ALL"
  enabled_policy_types = ["SERVICE_CONTROL_POLICY"]

  aws_service_access_principals = [
    "cloudtrail.amazonaws.com",
    "config.amazonaws.com",
    "controltower.amazonaws.com",
    "guardduty.amazonaws.com",
    "member.org.stacksets.cloudformation.amazonaws.com",
    "securityhub.amazonaws.com",
    "sso.amazonaws.com",
  ]
}

# Shared accounts Control Tower needs before the landing zone is created
# (it moves them into its Security OU).
resource "aws_organizations_account" "log_archive" {
  name              = "Log Archive"
  email             = var.log_archive_email
  role_name         = var.account_access_role_name
  close_on_deletion = false

  lifecycle {
    ignore_changes = [parent_id, role_name, iam_user_access_to_billing]
  }

  depends_on = [aws_organizations_organization.this]
}

resource "aws_organizations_account" "audit" {
  name              = "Audit"
  email             = var.audit_email
  role_name         = var.account_access_role_name
  close_on_deletion = false

  lifecycle {
    ignore_changes = [parent_id, role_name, iam_user_access_to_billing]
  }

  depends_on = [aws_organizations_organization.this]
}

# ---- Control Tower service roles (created by the console in the classic setup)

locals {
  controltower_roles = {
    AWSControlTowerAdmin = {
      service  = "controltower.amazonaws.com"
      managed  = ["arn:${var.partition}:iam::aws:policy/service-role/AWSControlTowerServiceRolePolicy"]
      inline   = { Effect = "Allow", Action = "ec2:DescribeAvailabilityZones", Resource = "*" }
      inlineOn = true
    }
    AWSControlTowerCloudTrailRole = {
      service = "cloudtrail.amazonaws.com"
      managed = []
      inline = {
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "arn:${var.partition}:logs:*:*:log-group:aws-controltower/CloudTrailLogs:*"
      }
      inlineOn = true
    }
    AWSControlTowerStackSetRole = {
      service  = "cloudformation.amazonaws.com"
      managed  = []
      inline   = { Effect = "Allow", Action = "sts:AssumeRole", Resource = "arn:${var.partition}:iam::*:role/AWSControlTowerExecution" }
      inlineOn = true
    }
    AWSControlTowerConfigAggregatorRoleForOrganizations = {
      service  = "config.amazonaws.com"
      managed  = ["arn:${var.partition}:iam::aws:policy/service-role/AWSConfigRoleForOrganizations"]
      inline   = null
      inlineOn = false
    }
  }

  controltower_managed_attachments = merge([
    for role, r in local.controltower_roles : { for arn in r.managed : "${role}|${arn}" => { role = role, arn = arn } }
  ]...)
}

resource "aws_iam_role" "controltower" {
  for_each = local.controltower_roles
  name     = each.key
  path     = "/service-role/"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = each.value.service }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "controltower" {
  for_each = { for k, r in local.controltower_roles : k => r if r.inlineOn }
  name     = "${each.key}Policy"
  role     = aws_iam_role.controltower[each.key].id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [each.value.inline]
  })
}

resource "aws_iam_role_policy_attachment" "controltower" {
  for_each   = local.controltower_managed_attachments
  role       = aws_iam_role.controltower[each.value.role].name
  policy_arn = each.value.arn
}

# ---- landing zone -----------------------------------------------------------

# Encrypts the organization CloudTrail and AWS Config data Control Tower
# delivers to the Log Archive account.
resource "aws_kms_key" "controltower" {
  description         = "coffer Control Tower: organization CloudTrail and AWS Config"
  enable_key_rotation = true

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "ManagementAccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${var.partition}:iam::${local.management_account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "ConfigEncrypts"
        Effect    = "Allow"
        Principal = { Service = "config.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
      },
      {
        Sid       = "CloudTrailEncrypts"
        Effect    = "Allow"
        Principal = { Service = "cloudtrail.amazonaws.com" }
        Action    = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = "arn:${var.partition}:cloudtrail:${var.home_region}:${local.management_account_id}:trail/aws-controltower-BaselineCloudTrail" }
          StringLike   = { "kms:EncryptionContext:aws:cloudtrail:arn" = "arn:${var.partition}:cloudtrail:*:${local.management_account_id}:trail/*" }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "controltower" {
  name          = "alias/coffer-controltower"
  target_key_id = aws_kms_key.controltower.key_id
}

locals {
  # Landing zone 3.x manifest: the organization CloudTrail (log file
  # validation on, KMS) and AWS Config deliver to Log Archive; Audit holds the
  # security roles; Identity Center manages access.
  landing_zone_manifest = {
    governedRegions = var.governed_regions
    organizationStructure = {
      security = { name = "Security" }
      sandbox  = { name = var.workloads_ou_name }
    }
    centralizedLogging = {
      accountId = aws_organizations_account.log_archive.id
      enabled   = true
      configurations = {
        loggingBucket       = { retentionDays = var.log_retention_days }
        accessLoggingBucket = { retentionDays = var.access_log_retention_days }
        kmsKeyArn           = aws_kms_key.controltower.arn
      }
    }
    securityRoles    = { accountId = aws_organizations_account.audit.id }
    accessManagement = { enabled = true }
  }
}

resource "aws_controltower_landing_zone" "this" {
  manifest_json = jsonencode(local.landing_zone_manifest)
  version       = var.landing_zone_version

  timeouts {
    create = "120m"
    update = "120m"
  }

  depends_on = [
    aws_iam_role_policy.controltower,
    aws_iam_role_policy_attachment.controltower,
  ]
}

# Read after the landing zone exists (deferred to apply on the first run).
data "aws_organizations_organizational_units" "root" {
  parent_id  = local.root_id
  depends_on = [aws_controltower_landing_zone.this]
}

locals {
  workloads_ou = one([for ou in data.aws_organizations_organizational_units.root.children : ou if ou.name == var.workloads_ou_name])
}
