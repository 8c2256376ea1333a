variable "profile" {
  description = "Cost profile: \"starter\" (no NAT, single-AZ db.t4g.micro, smallest Fargate) or \"hardened\" (private subnets + NAT, Multi-AZ, RDS Proxy, larger sizes)."
  type        = string
  default     = "starter"

  validation {
    condition     = contains(["starter", "hardened"], var.profile)
    error_message = "profile must be \"starter\" or \"hardened\"."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, ...); one AWS account per environment."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment: lowercase letters, digits and dashes, at most 16 characters."
  }
}

variable "account_id" {
  description = "The environment's AWS account (from the organization root's Account Factory output)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "partition" {
  type    = string
  default = "aws"
}

variable "assume_role_name" {
  description = "Role assumed in the environment account; null uses the caller's credentials directly."
  type        = string
  default     = "AWSControlTowerExecution"
}

variable "availability_zones" {
  description = "Two (or more) AZs; null means <region>a and <region>b."
  type        = list(string)
  default     = null
}

variable "vpc_cidr" {
  type    = string
  default = "10.40.0.0/16"
}

variable "domain_name" {
  description = "Public DNS name of the API (the certificate's name), e.g. api.coffer.example.com."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name for automatic certificate validation and the alias record; null = add the records by hand (README)."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub owner/name the pipeline builds."
  type        = string
}

variable "github_branch" {
  type    = string
  default = "main"
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each confirms by e-mail)."
  type        = list(string)
  default     = []
}

variable "test_listener_cidrs" {
  description = "CIDRs allowed to reach the blue/green test listener (empty: closed to the internet)."
  type        = list(string)
  default     = []
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes per client IP before WAF blocks."
  type        = number
  default     = 20000
}

# ---- database -------------------------------------------------------------

variable "database_engine" {
  description = "\"postgres\" (RDS instance) or \"aurora-postgresql\" (Aurora Serverless v2; hardened profile only)."
  type        = string
  default     = "postgres"

  validation {
    condition     = contains(["postgres", "aurora-postgresql"], var.database_engine)
    error_message = "database_engine must be postgres or aurora-postgresql."
  }

  validation {
    condition     = var.database_engine == "postgres" || var.profile == "hardened"
    error_message = "Aurora Serverless v2 is offered in the hardened profile only."
  }
}

variable "aurora_min_capacity" {
  description = "Aurora Serverless v2 minimum ACUs."
  type        = number
  default     = 0.5
}

variable "aurora_max_capacity" {
  description = "Aurora Serverless v2 maximum ACUs."
  type        = number
  default     = 16

  validation {
    condition     = var.aurora_max_capacity >= var.aurora_min_capacity && var.aurora_max_capacity <= 256
    error_message = "aurora_max_capacity must be >= aurora_min_capacity and <= 256."
  }
}

variable "db_instance_class" {
  description = "Override the profile's RDS instance class."
  type        = string
  default     = null
}

variable "db_max_allocated_storage" {
  description = "Override the profile's storage autoscaling ceiling (GiB)."
  type        = number
  default     = null
}

variable "db_proxy_enabled" {
  description = "Override the profile's RDS Proxy choice (hardened: on)."
  type        = bool
  default     = null
}

variable "db_read_replica" {
  description = "RDS instance engine: add a read replica (and its replica-lag alarm)."
  type        = bool
  default     = false
}

# ---- API scaling ----------------------------------------------------------

variable "api_min_count" {
  description = "Override the profile's minimum API task count."
  type        = number
  default     = null
}

variable "api_max_count" {
  description = "Override the profile's maximum API task count."
  type        = number
  default     = null
}

variable "api_requests_per_task_target" {
  description = "Target ALB requests per minute per API task (from the benchmark; see docs/capacity.md)."
  type        = number
  default     = 3000
}

# ---- application ----------------------------------------------------------

variable "opencloud_enabled" {
  description = "Publish balance changes through Roblox Open Cloud (adds the API key secret and universe id)."
  type        = bool
  default     = false
}

variable "opencloud_universe_id" {
  type    = string
  default = ""
}

variable "bot_guild_ids" {
  description = "Comma-separated Discord guild ids for guild-scoped commands (empty: global)."
  type        = string
  default     = ""
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture of the tasks; the build must produce images for it."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "log_level" {
  type    = string
  default = "INFO"
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "initial_image_tag" {
  description = "Image tag of the first task definitions; the first pipeline run replaces it."
  type        = string
  default     = "bootstrap"
}

variable "tags" {
  type    = map(string)
  default = {}
}
