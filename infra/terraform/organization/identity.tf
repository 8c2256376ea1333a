# People as data: team.yaml is the only place access is granted.

data "aws_ssoadmin_instances" "this" {
  # Identity Center is set up by the landing zone (accessManagement).
  depends_on = [aws_controltower_landing_zone.this]
}

locals {
  team_file = coalesce(var.team_file, "${path.module}/team.yaml")
  team      = yamldecode(file(local.team_file))
}

module "identity_center" {
  source = "../modules/identity-center"

  instance_arn      = tolist(data.aws_ssoadmin_instances.this.arns)[0]
  identity_store_id = tolist(data.aws_ssoadmin_instances.this.identity_store_ids)[0]
  people            = local.team.people
  account_ids       = local.account_ids
  partition         = var.partition
}
