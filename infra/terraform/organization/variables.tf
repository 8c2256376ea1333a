variable "home_region" {
  description = "Control Tower home region."
  type        = string
  default     = "us-east-1"
}

variable "governed_regions" {
  description = "Regions Control Tower governs; the region-restriction SCP allows only these."
  type        = list(string)
  default     = ["us-east-1", "us-west-2"]

  validation {
    condition     = length(var.governed_regions) > 0
    error_message = "Govern at least the home region."
  }
}

variable "partition" {
  type    = string
  default = "aws"
}

variable "landing_zone_version" {
  type    = string
  default = "3.3"
}

variable "log_archive_email" {
  description = "Root e-mail of the Log Archive account (a distribution list, not a person)."
  type        = string
}

variable "audit_email" {
  description = "Root e-mail of the Audit account (a distribution list, not a person)."
  type        = string
}

variable "account_access_role_name" {
  description = "Role Organizations creates in new shared accounts; used to configure the Audit account."
  type        = string
  default     = "OrganizationAccountAccessRole"
}

variable "workloads_ou_name" {
  description = "Name of the OU Control Tower creates and governs for workload accounts."
  type        = string
  default     = "Workloads"
}

variable "workload_accounts" {
  description = "Accounts vended by Account Factory: one per workload and environment."
  type = map(object({
    email = string
  }))
  default = {}

  validation {
    condition     = alltrue([for name, _ in var.workload_accounts : can(regex("^[a-z][a-z0-9-]{2,40}$", name))])
    error_message = "Account names: lowercase letters, digits and dashes (e.g. coffer-prod)."
  }
}

variable "account_factory_sso_user" {
  description = "Identity Center user Account Factory makes the first admin of each vended account."
  type = object({
    email      = string
    first_name = string
    last_name  = string
  })
}

variable "account_factory_portfolio_id" {
  description = "Service Catalog id of the \"AWS Control Tower Account Factory Portfolio\" (aws servicecatalog list-portfolios); with terraform_principal_arn, Terraform grants itself access to it."
  type        = string
  default     = null
}

variable "terraform_principal_arn" {
  description = "IAM role ARN (Identity Center permission-set role) that runs this root; associated with the Account Factory portfolio."
  type        = string
  default     = null
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "access_log_retention_days" {
  type    = number
  default = 3650
}

variable "controltower_controls" {
  description = "Control Tower controls (guardrails) enabled on the workloads OU, in addition to the mandatory ones."
  type        = list(string)
  default = [
    "AWS-GR_RESTRICT_ROOT_USER_ACCESS_KEYS",
    "AWS-GR_ROOT_ACCOUNT_MFA_ENABLED",
    "AWS-GR_ENCRYPTED_VOLUMES",
    "AWS-GR_RDS_INSTANCE_PUBLIC_ACCESS_CHECK",
    "AWS-GR_RDS_STORAGE_ENCRYPTED",
    "AWS-GR_RESTRICTED_SSH",
    "AWS-GR_S3_BUCKET_PUBLIC_READ_PROHIBITED",
    "AWS-GR_S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
  ]
}

variable "team_file" {
  description = "Path of the team file (null: team.yaml next to this root)."
  type        = string
  default     = null

  validation {
    condition = alltrue([
      for p in yamldecode(file(coalesce(var.team_file, "${path.module}/team.yaml"))).people :
      alltrue([for level in values(p.access) : contains(["read-only", "power-user", "admin"], level)])
    ])
    error_message = "team file: every access level must be read-only, power-user or admin."
  }

  validation {
    condition = alltrue([
      for p in yamldecode(file(coalesce(var.team_file, "${path.module}/team.yaml"))).people :
      can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", p.email)) && length(p.given_name) > 0 && length(p.family_name) > 0
    ])
    error_message = "team file: every person needs email, given_name and family_name."
  }

  validation {
    condition = alltrue([
      for p in yamldecode(file(coalesce(var.team_file, "${path.module}/team.yaml"))).people :
      alltrue([for account in keys(p.access) : contains(concat(["management", "log-archive", "audit"], keys(var.workload_accounts)), account)])
    ])
    error_message = "team file: access names an account that is neither management, log-archive, audit nor one of workload_accounts."
  }
}

variable "tags" {
  type    = map(string)
  default = {}
}
