terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }

  # Configure per environment: terraform init -backend-config=backend/prod.hcl
  # (bucket, key, region, dynamodb_table/use_lockfile, encrypt = true).
  backend "s3" {}
}

# Everything in this root lives in the environment's account, reached by
# assuming the Control Tower execution role from the management account (or
# with the caller's own credentials when assume_role_name is null).
provider "aws" {
  alias  = "workload"
  region = var.region

  dynamic "assume_role" {
    for_each = var.assume_role_name == null ? [] : [var.assume_role_name]
    content {
      role_arn     = "arn:${var.partition}:iam::${var.account_id}:role/${assume_role.value}"
      session_name = "coffer-terraform-${var.environment}"
    }
  }

  allowed_account_ids = [var.account_id]

  default_tags {
    tags = local.tags
  }
}
