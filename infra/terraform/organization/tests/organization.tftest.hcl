# Offline tests of the organization root with a mocked AWS provider.
#   terraform init -backend=false -plugin-dir=...; terraform test

mock_provider "aws" {
  mock_resource "aws_organizations_organization" {
    defaults = {
      master_account_id = "111111111111"
      roots             = [{ id = "r-abcd", arn = "arn:aws:organizations::111111111111:root/o-abcdefghij/r-abcd", name = "Root", policy_types = [] }]
    }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-0000000000aa" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/service-role/mock" }
  }
  mock_resource "aws_organizations_policy" {
    defaults = { id = "p-abcdefgh", arn = "arn:aws:organizations::111111111111:policy/o-abcdefghij/service_control_policy/p-abcdefgh" }
  }
  mock_resource "aws_servicecatalog_provisioned_product" {
    defaults = { outputs = [{ key = "AccountId", value = "444444444444", description = "" }] }
  }
  mock_resource "aws_ssoadmin_permission_set" {
    defaults = { arn = "arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef" }
  }
  mock_resource "aws_identitystore_group" {
    defaults = { group_id = "9067b5e0f1-11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_identitystore_user" {
    defaults = { user_id = "9067b5e0f1-66666666-7777-8888-9999-000000000000" }
  }
  mock_data "aws_organizations_organizational_units" {
    defaults = {
      children = [
        { name = "Security", id = "ou-abcd-00000001", arn = "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-00000001" },
        { name = "Workloads", id = "ou-abcd-00000002", arn = "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-00000002" },
      ]
    }
  }
  mock_data "aws_ssoadmin_instances" {
    defaults = {
      arns               = ["arn:aws:sso:::instance/ssoins-0123456789abcdef"]
      identity_store_ids = ["d-0123456789"]
    }
  }
}

mock_provider "aws" {
  alias = "audit"
}

override_resource {
  target = aws_organizations_account.log_archive
  values = { id = "222222222222", arn = "arn:aws:organizations::111111111111:account/o-abcdefghij/222222222222" }
}

override_resource {
  target = aws_organizations_account.audit
  values = { id = "333333333333", arn = "arn:aws:organizations::111111111111:account/o-abcdefghij/333333333333" }
}

variables {
  log_archive_email = "aws-log-archive@example.com"
  audit_email       = "aws-audit@example.com"
  workload_accounts = {
    "coffer-prod"    = { email = "aws-coffer-prod@example.com" }
    "coffer-staging" = { email = "aws-coffer-staging@example.com" }
  }
  account_factory_sso_user = {
    email      = "owner@example.com"
    first_name = "Studio"
    last_name  = "Owner"
  }
  team_file = "tests/fixtures/team.yaml"
}

run "organization" {
  command = apply

  # ---- landing zone and audit ----
  assert {
    condition = alltrue([
      jsondecode(aws_controltower_landing_zone.this.manifest_json).centralizedLogging.enabled,
      jsondecode(aws_controltower_landing_zone.this.manifest_json).centralizedLogging.accountId == "222222222222",
      jsondecode(aws_controltower_landing_zone.this.manifest_json).centralizedLogging.configurations.kmsKeyArn == aws_kms_key.controltower.arn,
      jsondecode(aws_controltower_landing_zone.this.manifest_json).securityRoles.accountId == "333333333333",
      jsondecode(aws_controltower_landing_zone.this.manifest_json).accessManagement.enabled,
      jsondecode(aws_controltower_landing_zone.this.manifest_json).governedRegions == ["us-east-1", "us-west-2"],
      jsondecode(aws_controltower_landing_zone.this.manifest_json).organizationStructure.sandbox.name == "Workloads",
    ])
    error_message = "Landing zone: org CloudTrail/Config to Log Archive with KMS, Audit security roles, Identity Center, governed regions."
  }
  assert {
    condition     = aws_kms_key.controltower.enable_key_rotation
    error_message = "The Control Tower key rotates."
  }
  assert {
    condition     = toset(keys(aws_iam_role.controltower)) == toset(["AWSControlTowerAdmin", "AWSControlTowerCloudTrailRole", "AWSControlTowerStackSetRole", "AWSControlTowerConfigAggregatorRoleForOrganizations"])
    error_message = "The four Control Tower service roles exist."
  }

  # ---- guardrails ----
  assert {
    condition = toset([for s in jsondecode(aws_organizations_policy.guardrails.content).Statement : s.Sid]) == toset([
      "DenyLeavingOrganization", "DenyRootUser", "DenyIamUsersAndAccessKeys", "DenyOutsideGovernedRegions",
      "ProtectAuditServices", "RequireEncryptedDatabases", "RequireEncryptedVolumes",
    ])
    error_message = "The SCP denies leaving, root use, IAM users/keys, other regions, audit tampering, unencrypted storage."
  }
  assert {
    condition     = length(aws_organizations_policy.guardrails.content) <= 5120
    error_message = "SCPs are limited to 5,120 characters."
  }
  assert {
    condition     = aws_organizations_policy_attachment.guardrails_workloads.target_id == "ou-abcd-00000002"
    error_message = "The SCP is attached to the Workloads OU."
  }
  assert {
    condition     = alltrue([for c in aws_controltower_control.workloads : c.target_identifier == "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-00000002"]) && length(aws_controltower_control.workloads) >= 5
    error_message = "Control Tower controls target the Workloads OU."
  }

  # ---- accounts ----
  assert {
    condition     = toset(keys(aws_servicecatalog_provisioned_product.account)) == toset(["coffer-prod", "coffer-staging"])
    error_message = "One Account Factory product per workload account."
  }
  assert {
    condition = alltrue([for p in aws_servicecatalog_provisioned_product.account : alltrue([
      p.product_name == "AWS Control Tower Account Factory",
      contains([for x in p.provisioning_parameters : "${x.key}=${x.value}"], "ManagedOrganizationalUnit=Workloads (ou-abcd-00000002)"),
      toset([for x in p.provisioning_parameters : x.key]) == toset(["AccountName", "AccountEmail", "ManagedOrganizationalUnit", "SSOUserEmail", "SSOUserFirstName", "SSOUserLastName"]),
    ])])
    error_message = "Account Factory parameters are complete and target the Workloads OU."
  }

  # ---- GuardDuty / Security Hub ----
  assert {
    condition = alltrue([
      aws_guardduty_organization_admin_account.audit.admin_account_id == "333333333333",
      aws_guardduty_organization_configuration.this.auto_enable_organization_members == "ALL",
      aws_securityhub_organization_admin_account.audit.admin_account_id == "333333333333",
      aws_securityhub_organization_configuration.this.auto_enable,
    ])
    error_message = "GuardDuty and Security Hub are organization-wide with Audit as delegated administrator."
  }

  # ---- people as data ----
  assert {
    condition = alltrue([
      module.identity_center.permission_sets["read-only"].session_duration == "PT8H",
      module.identity_center.permission_sets["power-user"].session_duration == "PT4H",
      module.identity_center.permission_sets["admin"].session_duration == "PT1H",
    ])
    error_message = "Permission sets read-only / power-user / admin with session limits."
  }
  assert {
    condition     = toset(keys(module.identity_center.users)) == toset(["alice@example.com", "bob@example.com", "carol@example.com"])
    error_message = "One Identity Center user per person in the team file."
  }
  assert {
    condition = toset(keys(module.identity_center.account_assignments)) == toset([
      "coffer-prod/admin", "coffer-staging/admin", "management/read-only",
      "coffer-staging/power-user", "coffer-prod/read-only", "audit/read-only",
    ])
    error_message = "Account assignments are exactly the (account, level) pairs of the team file."
  }
  assert {
    condition = alltrue([
      module.identity_center.account_assignments["management/read-only"].target_id == "111111111111",
      module.identity_center.account_assignments["audit/read-only"].target_id == "333333333333",
      module.identity_center.account_assignments["coffer-prod/admin"].target_id == "444444444444",
      alltrue([for a in module.identity_center.account_assignments : a.principal_type == "GROUP" && a.target_type == "AWS_ACCOUNT"]),
      alltrue([for k, a in module.identity_center.account_assignments : a.permission_set_arn == module.identity_center.permission_sets[split("/", k)[1]].arn]),
      alltrue([for k, a in module.identity_center.account_assignments : a.principal_id == module.identity_center.groups[k].group_id]),
    ])
    error_message = "Each assignment gives its group the level's permission set on the named account."
  }
  assert {
    condition = toset(keys(module.identity_center.memberships)) == toset([
      "alice@example.com|coffer-prod/admin", "alice@example.com|coffer-staging/admin", "alice@example.com|management/read-only",
      "bob@example.com|coffer-staging/power-user", "bob@example.com|coffer-prod/read-only",
      "carol@example.com|audit/read-only", "carol@example.com|coffer-prod/read-only",
    ])
    error_message = "Group memberships are exactly the team file's lines."
  }
}

run "offboarding_revokes_access" {
  command = apply

  variables {
    team_file = "tests/fixtures/team-after-offboarding.yaml"
  }

  assert {
    condition     = !contains(keys(module.identity_center.users), "bob@example.com")
    error_message = "Removing a person deletes their user."
  }
  assert {
    condition     = !contains(keys(module.identity_center.memberships), "carol@example.com|coffer-prod/read-only") && contains(keys(module.identity_center.memberships), "carol@example.com|audit/read-only")
    error_message = "Removing one line revokes exactly that access."
  }
  assert {
    condition     = !contains(keys(module.identity_center.account_assignments), "coffer-staging/power-user") && !contains(keys(module.identity_center.account_assignments), "coffer-prod/read-only")
    error_message = "Assignments no one holds any more are removed."
  }
}

run "rejects_unknown_level" {
  command = plan

  variables {
    team_file = "tests/fixtures/team-bad-level.yaml"
  }

  expect_failures = [var.team_file]
}

run "rejects_unknown_account" {
  command = plan

  variables {
    team_file = "tests/fixtures/team-unknown-account.yaml"
  }

  expect_failures = [var.team_file]
}
