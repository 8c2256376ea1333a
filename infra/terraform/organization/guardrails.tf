# Preventive guardrails on the workloads OU: one service control policy (an OU
# takes at most five, Control Tower uses some) plus Control Tower controls.

locals {
  # Principals Control Tower and its stack sets act as; exempt from the SCP so
  # the landing zone can still manage the accounts.
  controltower_principals = [
    "arn:${var.partition}:iam::*:role/AWSControlTowerExecution",
    "arn:${var.partition}:iam::*:role/aws-controltower-*",
    "arn:${var.partition}:iam::*:role/stacksets-exec-*",
  ]

  # Global services exempt from the region restriction.
  global_actions = [
    "account:*", "acm:*", "budgets:*", "ce:*", "cloudfront:*", "cur:*", "globalaccelerator:*", "health:*",
    "iam:*", "kms:*", "organizations:*", "pricing:*", "route53:*", "route53domains:*", "s3:GetAccountPublic*",
    "s3:ListAllMyBuckets", "s3:PutAccountPublic*", "shield:*", "sso:*", "sts:*", "support:*",
    "trustedadvisor:*", "waf:*", "wafv2:*", "ec2:DescribeRegions",
  ]

  guardrails_scp = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "DenyLeavingOrganization"
        Effect   = "Deny"
        Action   = "organizations:LeaveOrganization"
        Resource = "*"
      },
      {
        Sid       = "DenyRootUser"
        Effect    = "Deny"
        Action    = "*"
        Resource  = "*"
        Condition = { StringLike = { "aws:PrincipalArn" = "arn:${var.partition}:iam::*:root" } }
      },
      {
        Sid       = "DenyIamUsersAndAccessKeys"
        Effect    = "Deny"
        Action    = ["iam:CreateUser", "iam:CreateAccessKey", "iam:CreateLoginProfile"]
        Resource  = "*"
        Condition = { ArnNotLike = { "aws:PrincipalArn" = local.controltower_principals } }
      },
      {
        Sid       = "DenyOutsideGovernedRegions"
        Effect    = "Deny"
        NotAction = local.global_actions
        Resource  = "*"
        Condition = {
          StringNotEquals = { "aws:RequestedRegion" = var.governed_regions }
          ArnNotLike      = { "aws:PrincipalArn" = local.controltower_principals }
        }
      },
      {
        Sid    = "ProtectAuditServices"
        Effect = "Deny"
        Action = [
          "cloudtrail:DeleteTrail", "cloudtrail:StopLogging", "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors",
          "config:DeleteConfigurationRecorder", "config:DeleteDeliveryChannel", "config:StopConfigurationRecorder",
          "guardduty:DeleteDetector", "guardduty:DisassociateFromAdministratorAccount", "guardduty:UpdateDetector",
          "guardduty:DeleteMembers", "guardduty:StopMonitoringMembers",
          "securityhub:DisableSecurityHub", "securityhub:DisassociateFromAdministratorAccount",
        ]
        Resource  = "*"
        Condition = { ArnNotLike = { "aws:PrincipalArn" = local.controltower_principals } }
      },
      {
        Sid       = "RequireEncryptedDatabases"
        Effect    = "Deny"
        Action    = ["rds:CreateDBInstance", "rds:CreateDBCluster"]
        Resource  = "*"
        Condition = { Bool = { "rds:StorageEncrypted" = "false" } }
      },
      {
        Sid       = "RequireEncryptedVolumes"
        Effect    = "Deny"
        Action    = "ec2:CreateVolume"
        Resource  = "*"
        Condition = { Bool = { "ec2:Encrypted" = "false" } }
      },
    ]
  }
}

resource "aws_organizations_policy" "guardrails" {
  name        = "coffer-guardrails"
  description = "Deny leaving the org, root-user actions, IAM users/keys, ungoverned regions, tampering with audit services, unencrypted storage."
  type        = "SERVICE_CONTROL_POLICY"
  content     = jsonencode(local.guardrails_scp)
}

resource "aws_organizations_policy_attachment" "guardrails_workloads" {
  policy_id = aws_organizations_policy.guardrails.id
  target_id = local.workloads_ou.id
}

resource "aws_controltower_control" "workloads" {
  for_each           = toset(var.controltower_controls)
  control_identifier = "arn:${var.partition}:controltower:${var.home_region}::control/${each.key}"
  target_identifier  = local.workloads_ou.arn
}
