output "profile" {
  value = var.profile
}

output "api_url" {
  value = "https://${var.domain_name}"
}

output "alb_dns_name" {
  description = "Point domain_name at this (CNAME/alias) when Route 53 is not used."
  value       = module.edge.alb_dns_name
}

output "certificate_validation_records" {
  description = "Create these CNAMEs at your DNS provider once (README, manual steps)."
  value       = module.edge.certificate_validation_records
}

output "codestar_connection_arn" {
  description = "Finish the GitHub handshake for this connection once in the console."
  value       = module.pipeline.connection_arn
}

output "pipeline_name" {
  value = module.pipeline.pipeline_name
}

output "ecr_repository_urls" {
  value = module.ecr.repository_urls
}

output "database_endpoint" {
  description = "Host for DATABASE_URL (RDS Proxy endpoint when enabled)."
  value       = module.database.endpoint
}

output "database_master_secret_arn" {
  description = "RDS-managed master credentials (for the one-time role bootstrap only)."
  value       = module.database.master_user_secret_arn
}

output "secret_arns" {
  description = "Secrets to fill once with `aws secretsmanager put-secret-value`."
  value       = merge({ for k, s in aws_secretsmanager_secret.app : k => s.arn }, { for k, a in module.database.proxy_login_secret_arns : "db-login/${k}" => a })
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "build_environment_names" {
  description = "Environment variables buildspec.yml receives."
  value       = sort(keys(local.build_environment))
}
