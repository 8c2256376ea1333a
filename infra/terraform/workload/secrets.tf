# Secrets Manager secrets (KMS) the containers read through their task
# definition's `secrets` (valueFrom), never as plain environment values.
# Terraform creates the containers only; values are put once by an operator
# (infra/README.md, "Secrets") so they never enter Terraform state.

locals {
  app_secrets = merge(
    {
      "api/database-url"          = "postgresql://<app user>:<password>@<db endpoint>:5432/coffer?sslmode=require (schema owner)"
      "api/roblox-webhook-secret" = "Roblox creator webhook signing secret"
      "bot/discord-token"         = "Discord bot token"
      "bot/api-key"               = "coffer API key of the bot (coffer keys create --name bot --scopes read,write)"
      "bot/database-url"          = "postgresql://coffer_bot:<password>@<db endpoint>:5432/coffer?sslmode=require (read-only login)"
    },
    var.opencloud_enabled ? { "api/opencloud-api-key" = "Roblox Open Cloud API key (messaging-service:publish)" } : {},
  )
}

resource "aws_secretsmanager_secret" "app" {
  #checkov:skip=CKV2_AWS_57:Values are third-party tokens (Discord, Roblox) or DB URLs the operator rotates with the DB user (README); RDS rotates the master secret itself.
  provider                = aws.workload
  for_each                = local.app_secrets
  name                    = "${local.name}/${each.key}"
  description             = each.value
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 7
}

locals {
  api_secrets = merge(
    {
      COFFER_DATABASE_URL          = aws_secretsmanager_secret.app["api/database-url"].arn
      COFFER_ROBLOX_WEBHOOK_SECRET = aws_secretsmanager_secret.app["api/roblox-webhook-secret"].arn
    },
    var.opencloud_enabled ? { COFFER_OPENCLOUD_API_KEY = aws_secretsmanager_secret.app["api/opencloud-api-key"].arn } : {},
  )

  bot_secrets = {
    COFFER_BOT_DISCORD_TOKEN = aws_secretsmanager_secret.app["bot/discord-token"].arn
    COFFER_BOT_API_KEY       = aws_secretsmanager_secret.app["bot/api-key"].arn
    COFFER_BOT_DATABASE_URL  = aws_secretsmanager_secret.app["bot/database-url"].arn
  }

  api_environment = merge(
    {
      COFFER_LOG_LEVEL        = var.log_level
      COFFER_WORKERS          = tostring(local.p.api_workers)
      COFFER_DB_POOL_MAX_SIZE = tostring(local.p.db_pool_max_size)
      # X-Forwarded-For is trusted only from the ALB's subnets.
      COFFER_TRUSTED_PROXIES = var.vpc_cidr
    },
    var.opencloud_enabled ? { COFFER_OPENCLOUD_UNIVERSE_ID = var.opencloud_universe_id } : {},
  )

  bot_environment = merge(
    {
      COFFER_BOT_API_URL = "https://${var.domain_name}"
    },
    var.bot_guild_ids == "" ? {} : { COFFER_BOT_GUILD_IDS = var.bot_guild_ids },
  )
}
