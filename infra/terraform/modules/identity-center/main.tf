# IAM Identity Center from one team file: users, one group per (account, access
# level) that someone holds, memberships, three permission sets with session
# limits, and the group-to-account assignments. Removing a person (or one of
# their access lines) and applying revokes exactly that access.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "instance_arn" {
  type = string
}

variable "identity_store_id" {
  type = string
}

variable "people" {
  description = "Decoded team file: list of {email, given_name, family_name, access = {account name = level}}."
  type = list(object({
    email       = string
    given_name  = string
    family_name = string
    access      = map(string)
  }))

  validation {
    condition     = alltrue([for p in var.people : alltrue([for level in values(p.access) : contains(["read-only", "power-user", "admin"], level)])])
    error_message = "Every access level must be read-only, power-user or admin."
  }

  validation {
    condition     = alltrue([for p in var.people : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", p.email))])
    error_message = "Every person needs a valid e-mail address."
  }

  validation {
    condition     = length(distinct([for p in var.people : lower(p.email)])) == length(var.people)
    error_message = "Each person appears once in the team file."
  }
}

variable "account_ids" {
  description = "Account name (as used in the team file) => account id."
  type        = map(string)
}

variable "permission_sets" {
  description = "Access level => AWS managed policy and maximum session length (ISO 8601)."
  type = map(object({
    description      = string
    managed_policy   = string
    session_duration = string
  }))
  default = {
    "read-only" = {
      description      = "Read-only access to the account"
      managed_policy   = "ReadOnlyAccess"
      session_duration = "PT8H"
    }
    "power-user" = {
      description      = "Everything except IAM and Organizations"
      managed_policy   = "PowerUserAccess"
      session_duration = "PT4H"
    }
    "admin" = {
      description      = "Full administrator, short sessions"
      managed_policy   = "AdministratorAccess"
      session_duration = "PT1H"
    }
  }
}

variable "partition" {
  type    = string
  default = "aws"
}

locals {
  people = { for p in var.people : lower(p.email) => p }

  # "account/level" for every grant in the team file.
  grants = distinct(flatten([
    for p in var.people : [for account, level in p.access : "${account}/${level}"]
  ]))

  memberships = merge([
    for p in var.people : {
      for account, level in p.access : "${lower(p.email)}|${account}/${level}" => {
        email = lower(p.email)
        grant = "${account}/${level}"
      }
    }
  ]...)
}

resource "aws_identitystore_user" "this" {
  for_each          = local.people
  identity_store_id = var.identity_store_id
  user_name         = each.key
  display_name      = "${each.value.given_name} ${each.value.family_name}"

  name {
    given_name  = each.value.given_name
    family_name = each.value.family_name
  }

  emails {
    value   = each.key
    primary = true
  }
}

resource "aws_identitystore_group" "this" {
  for_each          = toset(local.grants)
  identity_store_id = var.identity_store_id
  display_name      = "coffer-${replace(each.key, "/", "-")}"
  description       = "${split("/", each.key)[1]} access to ${split("/", each.key)[0]} (from the team file)"

  lifecycle {
    precondition {
      condition     = contains(keys(var.account_ids), split("/", each.key)[0])
      error_message = "The team file names an unknown account: ${split("/", each.key)[0]}. Known: ${join(", ", keys(var.account_ids))}."
    }
  }
}

resource "aws_identitystore_group_membership" "this" {
  for_each          = local.memberships
  identity_store_id = var.identity_store_id
  group_id          = aws_identitystore_group.this[each.value.grant].group_id
  member_id         = aws_identitystore_user.this[each.value.email].user_id
}

resource "aws_ssoadmin_permission_set" "this" {
  for_each         = var.permission_sets
  name             = "coffer-${each.key}"
  description      = each.value.description
  instance_arn     = var.instance_arn
  session_duration = each.value.session_duration
}

resource "aws_ssoadmin_managed_policy_attachment" "this" {
  #checkov:skip=CKV_AWS_274:The team file's "admin" level is AdministratorAccess by design: 1-hour sessions, granted per person and account in team.yaml.
  for_each           = var.permission_sets
  instance_arn       = var.instance_arn
  permission_set_arn = aws_ssoadmin_permission_set.this[each.key].arn
  managed_policy_arn = "arn:${var.partition}:iam::aws:policy/${each.value.managed_policy}"
}

resource "aws_ssoadmin_account_assignment" "this" {
  for_each           = toset(local.grants)
  instance_arn       = var.instance_arn
  permission_set_arn = aws_ssoadmin_permission_set.this[split("/", each.key)[1]].arn
  principal_type     = "GROUP"
  principal_id       = aws_identitystore_group.this[each.key].group_id
  target_type        = "AWS_ACCOUNT"
  target_id          = var.account_ids[split("/", each.key)[0]]

  depends_on = [aws_ssoadmin_managed_policy_attachment.this]
}

output "users" {
  value = aws_identitystore_user.this
}

output "groups" {
  value = aws_identitystore_group.this
}

output "memberships" {
  value = aws_identitystore_group_membership.this
}

output "permission_sets" {
  value = aws_ssoadmin_permission_set.this
}

output "account_assignments" {
  value = aws_ssoadmin_account_assignment.this
}
