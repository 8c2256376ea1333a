# Organization-wide GuardDuty and Security Hub, administered from the Audit
# account (delegated administrator), auto-enabled for every member account.

resource "aws_guardduty_detector" "management" {
  #checkov:skip=CKV2_AWS_3:Management-account detector; the org-wide auto-enable (ALL) lives on the Audit delegated-admin detector below.
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
}

resource "aws_guardduty_detector" "audit" {
  provider                     = aws.audit
  enable                       = true
  finding_publishing_frequency = "FIFTEEN_MINUTES"
}

resource "aws_guardduty_organization_admin_account" "audit" {
  admin_account_id = aws_organizations_account.audit.id

  depends_on = [aws_organizations_organization.this, aws_guardduty_detector.management, aws_guardduty_detector.audit]
}

resource "aws_guardduty_organization_configuration" "this" {
  provider                         = aws.audit
  detector_id                      = aws_guardduty_detector.audit.id
  auto_enable_organization_members = "ALL"

  depends_on = [aws_guardduty_organization_admin_account.audit]
}

resource "aws_guardduty_organization_configuration_feature" "this" {
  provider    = aws.audit
  for_each    = toset(["S3_DATA_EVENTS", "RDS_LOGIN_EVENTS"])
  detector_id = aws_guardduty_detector.audit.id
  name        = each.key
  auto_enable = "ALL"

  depends_on = [aws_guardduty_organization_configuration.this]
}

resource "aws_securityhub_account" "management" {
  enable_default_standards = false
}

resource "aws_securityhub_organization_admin_account" "audit" {
  admin_account_id = aws_organizations_account.audit.id

  depends_on = [aws_organizations_organization.this, aws_securityhub_account.management]
}

resource "aws_securityhub_organization_configuration" "this" {
  provider              = aws.audit
  auto_enable           = true
  auto_enable_standards = "DEFAULT"

  depends_on = [aws_securityhub_organization_admin_account.audit]
}
