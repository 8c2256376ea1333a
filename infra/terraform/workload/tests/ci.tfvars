# Inputs for offline plans (tests/infra): fake account, no role assumption.
environment       = "ci"
account_id        = "111111111111"
assume_role_name  = null
domain_name       = "api.coffer.example.com"
github_repository = "example/coffer"
alarm_emails      = ["ops@example.com"]
