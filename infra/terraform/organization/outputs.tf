output "workload_account_ids" {
  description = "Pass each to the workload root as account_id."
  value       = local.vended_account_ids
}

output "log_archive_account_id" {
  value = aws_organizations_account.log_archive.id
}

output "audit_account_id" {
  value = aws_organizations_account.audit.id
}

output "workloads_ou_id" {
  value = local.workloads_ou.id
}

output "sso_instance_arn" {
  value = tolist(data.aws_ssoadmin_instances.this.arns)[0]
}

output "permission_sets" {
  value = { for k, p in module.identity_center.permission_sets : k => p.arn }
}
