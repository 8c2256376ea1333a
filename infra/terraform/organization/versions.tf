terraform {
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }

  # terraform init -backend-config=backend.hcl (the state bucket bootstrapped
  # by hand once, see infra/README.md).
  backend "s3" {}
}

# The management account (run this root with its credentials, via IAM
# Identity Center once it exists; never with an IAM user).
provider "aws" {
  region = var.home_region

  default_tags {
    tags = local.tags
  }
}

# The Audit account, delegated administrator of GuardDuty and Security Hub.
# The role exists as soon as Organizations has created the account.
provider "aws" {
  alias  = "audit"
  region = var.home_region

  assume_role {
    role_arn     = "arn:${var.partition}:iam::${aws_organizations_account.audit.id}:role/${var.account_access_role_name}"
    session_name = "coffer-terraform-organization"
  }

  default_tags {
    tags = local.tags
  }
}
