# Workload accounts (coffer-prod, coffer-staging, ...) vended through Control
# Tower Account Factory, so they are enrolled with the baseline from the start.
# A failed provisioning leaves a TAINTED/ERROR product that must be terminated
# in Service Catalog before retrying (README, "Account vending").

resource "aws_servicecatalog_principal_portfolio_association" "terraform" {
  count         = var.account_factory_portfolio_id != null && var.terraform_principal_arn != null ? 1 : 0
  portfolio_id  = var.account_factory_portfolio_id
  principal_arn = var.terraform_principal_arn
}

resource "aws_servicecatalog_provisioned_product" "account" {
  for_each                   = var.workload_accounts
  name                       = each.key
  product_name               = "AWS Control Tower Account Factory"
  provisioning_artifact_name = "AWS Control Tower Account Factory"

  provisioning_parameters {
    key   = "AccountName"
    value = each.key
  }
  provisioning_parameters {
    key   = "AccountEmail"
    value = each.value.email
  }
  provisioning_parameters {
    key   = "ManagedOrganizationalUnit"
    value = "${local.workloads_ou.name} (${local.workloads_ou.id})"
  }
  provisioning_parameters {
    key   = "SSOUserEmail"
    value = var.account_factory_sso_user.email
  }
  provisioning_parameters {
    key   = "SSOUserFirstName"
    value = var.account_factory_sso_user.first_name
  }
  provisioning_parameters {
    key   = "SSOUserLastName"
    value = var.account_factory_sso_user.last_name
  }

  timeouts {
    create = "60m"
    update = "60m"
    delete = "60m"
  }

  depends_on = [
    aws_controltower_landing_zone.this,
    aws_servicecatalog_principal_portfolio_association.terraform,
  ]
}

locals {
  vended_account_ids = {
    for name, product in aws_servicecatalog_provisioned_product.account :
    name => one([for o in product.outputs : o.value if o.key == "AccountId"])
  }

  # Account names the team file may use.
  account_ids = merge(
    {
      "management"  = local.management_account_id
      "log-archive" = aws_organizations_account.log_archive.id
      "audit"       = aws_organizations_account.audit.id
    },
    local.vended_account_ids,
  )
}
