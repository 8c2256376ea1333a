# The delivery pipeline and the variables buildspec.yml receives.

locals {
  # Plain-text (non-secret) environment of the Build stage. CodeBuild itself
  # sets AWS_REGION and AWS_DEFAULT_REGION. The names are the contract with
  # buildspec.yml and deploy/ (listed in infra/README.md).
  build_environment = {
    AWS_ACCOUNT_ID                = var.account_id
    COFFER_ENVIRONMENT            = var.environment
    COFFER_API_REPO_URI           = module.ecr.repository_urls["coffer-api"]
    COFFER_BOT_REPO_URI           = module.ecr.repository_urls["coffer-bot"]
    COFFER_ECS_CLUSTER            = module.ecs.cluster_name
    COFFER_API_SERVICE            = module.ecs.api_service_name
    COFFER_BOT_SERVICE            = module.ecs.bot_service_name
    COFFER_API_TASK_FAMILY        = module.ecs.task_families["api"]
    COFFER_BOT_TASK_FAMILY        = module.ecs.task_families["bot"]
    COFFER_MIGRATE_TASK_FAMILY    = module.ecs.task_families["migrate"]
    COFFER_API_TASK_ROLE_ARN      = module.ecs.task_role_arns["api"]
    COFFER_BOT_TASK_ROLE_ARN      = module.ecs.task_role_arns["bot"]
    COFFER_API_EXECUTION_ROLE_ARN = module.ecs.execution_role_arns["api"]
    COFFER_BOT_EXECUTION_ROLE_ARN = module.ecs.execution_role_arns["bot"]
    COFFER_API_LOG_GROUP          = module.ecs.log_group_names["api"]
    COFFER_BOT_LOG_GROUP          = module.ecs.log_group_names["bot"]
    COFFER_API_CPU                = tostring(local.p.api_cpu)
    COFFER_API_MEMORY             = tostring(local.p.api_memory)
    COFFER_BOT_CPU                = tostring(local.p.bot_cpu)
    COFFER_BOT_MEMORY             = tostring(local.p.bot_memory)
    COFFER_DB_SECRET_ARN          = local.api_secrets["COFFER_DATABASE_URL"]
    COFFER_WEBHOOK_SECRET_ARN     = local.api_secrets["COFFER_ROBLOX_WEBHOOK_SECRET"]
    COFFER_OPENCLOUD_SECRET_ARN   = lookup(local.api_secrets, "COFFER_OPENCLOUD_API_KEY", "")
    COFFER_BOT_TOKEN_SECRET_ARN   = local.bot_secrets["COFFER_BOT_DISCORD_TOKEN"]
    COFFER_BOT_API_KEY_SECRET_ARN = local.bot_secrets["COFFER_BOT_API_KEY"]
    COFFER_BOT_DB_SECRET_ARN      = local.bot_secrets["COFFER_BOT_DATABASE_URL"]
    COFFER_BOT_API_URL            = local.bot_environment["COFFER_BOT_API_URL"]
    COFFER_TRUSTED_PROXIES        = local.api_environment["COFFER_TRUSTED_PROXIES"]
    COFFER_WORKERS                = local.api_environment["COFFER_WORKERS"]
    COFFER_DB_POOL_MAX_SIZE       = local.api_environment["COFFER_DB_POOL_MAX_SIZE"]
    COFFER_LOG_LEVEL              = var.log_level
    COFFER_OPENCLOUD_UNIVERSE_ID  = lookup(local.api_environment, "COFFER_OPENCLOUD_UNIVERSE_ID", "")
    COFFER_CPU_ARCHITECTURE       = var.cpu_architecture
  }
}

module "pipeline" {
  source    = "../modules/pipeline"
  providers = { aws = aws.workload }

  name                 = local.name
  account_id           = var.account_id
  kms_key_arn          = aws_kms_key.main.arn
  log_retention_days   = var.log_retention_days
  artifact_bucket_name = "${local.name}-artifacts-${var.account_id}"
  access_log_bucket    = module.logs_bucket.id
  github_repository    = var.github_repository
  branch               = var.github_branch
  build_environment    = local.build_environment

  ecr_repository_arns = values(module.ecr.repository_arns)
  cluster_name        = module.ecs.cluster_name
  cluster_arn         = module.ecs.cluster_arn
  api_service_name    = module.ecs.api_service_name
  bot_service_name    = module.ecs.bot_service_name
  migrate_task_family = module.ecs.task_families["migrate"]

  migrate_subnet_ids         = local.task_subnet_ids
  migrate_security_group_ids = [aws_security_group.api.id]
  migrate_assign_public_ip   = local.p.tasks_in_public_subnets

  passable_role_arns = concat(values(module.ecs.task_role_arns), values(module.ecs.execution_role_arns))

  https_listener_arn     = module.edge.https_listener_arn
  test_listener_arn      = module.edge.test_listener_arn
  target_group_names     = [module.edge.target_group_names["blue"], module.edge.target_group_names["green"]]
  rollback_alarm_names   = module.edge.alarm_names
  deployment_config_name = local.p.deployment_config
}
