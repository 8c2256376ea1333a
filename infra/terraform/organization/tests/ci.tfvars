# Inputs for offline plans (tests/infra).
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
