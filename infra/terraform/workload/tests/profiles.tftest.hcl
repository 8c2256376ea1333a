# Offline plan/apply with a mocked AWS provider: every "Must hold" line a plan
# can show, for both cost profiles and the Aurora option.
#   terraform init -backend=false -plugin-dir=...; terraform test

mock_provider "aws" {
  alias = "workload"

  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::127311923021:root" }
  }

  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:111111111111:key/00000000-0000-0000-0000-000000000001" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111111111111:role/mock" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:111111111111:coffer-ci-alarms" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:coffer-ci/mock-AbCdEf" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:111111111111:log-group:/coffer/mock" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::coffer-ci-mock" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = {
      arn            = "arn:aws:ecr:us-east-1:111111111111:repository/coffer-mock"
      repository_url = "111111111111.dkr.ecr.us-east-1.amazonaws.com/coffer-mock"
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = { arn = "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000002" }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = { certificate_arn = "arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000002" }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:111111111111:loadbalancer/app/coffer-ci/0123456789abcdef"
      arn_suffix = "app/coffer-ci/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn        = "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/coffer-ci/0123456789abcdef"
      arn_suffix = "targetgroup/coffer-ci/0123456789abcdef"
    }
  }
  mock_resource "aws_lb_listener" {
    defaults = { arn = "arn:aws:elasticloadbalancing:us-east-1:111111111111:listener/app/coffer-ci/0123456789abcdef/0123456789abcdef" }
  }
  mock_resource "aws_wafv2_web_acl" {
    defaults = { arn = "arn:aws:wafv2:us-east-1:111111111111:regional/webacl/coffer-ci/00000000-0000-0000-0000-000000000003" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:us-east-1:111111111111:cluster/coffer-ci" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:us-east-1:111111111111:task-definition/coffer-ci-mock:1" }
  }
  mock_resource "aws_codestarconnections_connection" {
    defaults = { arn = "arn:aws:codestar-connections:us-east-1:111111111111:connection/00000000-0000-0000-0000-000000000004" }
  }
  mock_resource "aws_codebuild_project" {
    defaults = { arn = "arn:aws:codebuild:us-east-1:111111111111:project/coffer-ci-mock" }
  }
  mock_resource "aws_codedeploy_app" {
    defaults = { arn = "arn:aws:codedeploy:us-east-1:111111111111:application:coffer-ci-api" }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      arn                = "arn:aws:rds:us-east-1:111111111111:db:coffer-ci"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!db-mock-AbCdEf", kms_key_id = "mock", secret_status = "active" }]
    }
  }
  mock_resource "aws_db_proxy_default_target_group" {
    defaults = { name = "default" }
  }
  mock_resource "aws_db_proxy" {
    defaults = { arn = "arn:aws:rds:us-east-1:111111111111:db-proxy:prx-0123456789abcdef0" }
  }
  mock_resource "aws_rds_cluster" {
    defaults = {
      arn                = "arn:aws:rds:us-east-1:111111111111:cluster:coffer-ci"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:rds!cluster-mock-AbCdEf", kms_key_id = "mock", secret_status = "active" }]
    }
  }
}

variables {
  environment       = "ci"
  account_id        = "111111111111"
  assume_role_name  = null
  domain_name       = "api.coffer.example.com"
  github_repository = "example/coffer"
  alarm_emails      = ["ops@example.com"]
}

run "starter" {
  command = apply

  variables {
    profile = "starter"
  }

  # ---- network and entry ----
  assert {
    condition     = module.network.nat_gateway_count == 0 && module.ecs.services.api.network_configuration[0].assign_public_ip && module.ecs.services.bot.network_configuration[0].assign_public_ip
    error_message = "starter: no NAT gateway, tasks get public IPs in public subnets."
  }
  assert {
    condition     = toset(module.ecs.services.api.network_configuration[0].subnets) == toset(module.network.public_subnet_ids)
    error_message = "starter: API tasks run in the public subnets."
  }
  assert {
    condition = alltrue([
      aws_vpc_security_group_ingress_rule.api_from_alb.security_group_id == aws_security_group.api.id,
      aws_vpc_security_group_ingress_rule.api_from_alb.referenced_security_group_id == aws_security_group.alb.id,
      aws_vpc_security_group_ingress_rule.api_from_alb.cidr_ipv4 == null,
      aws_vpc_security_group_ingress_rule.api_from_alb.from_port == 8000,
    ])
    error_message = "API tasks must accept port 8000 from the load balancer's security group only."
  }
  assert {
    condition = length([
      for r in concat(
        values(aws_vpc_security_group_ingress_rule.alb_https),
        values(aws_vpc_security_group_ingress_rule.alb_http_redirect),
        values(aws_vpc_security_group_ingress_rule.alb_test_listener),
        values(aws_vpc_security_group_ingress_rule.db_from_tasks),
        values(aws_vpc_security_group_ingress_rule.proxy_from_tasks),
        aws_vpc_security_group_ingress_rule.db_from_proxy,
      ) : r if contains([aws_security_group.api.id, aws_security_group.bot.id], r.security_group_id)
    ]) == 0
    error_message = "No other ingress rule may open the API or bot tasks."
  }
  assert {
    condition = (
      toset([for r in aws_vpc_security_group_ingress_rule.db_from_tasks : r.referenced_security_group_id]) == toset([aws_security_group.api.id, aws_security_group.bot.id])
      && alltrue([for r in aws_vpc_security_group_ingress_rule.db_from_tasks : r.security_group_id == aws_security_group.db.id && r.cidr_ipv4 == null && r.from_port == 5432])
    )
    error_message = "starter: the database accepts PostgreSQL only from the api and bot task security groups."
  }
  assert {
    condition     = length(module.network.default_security_group.ingress) == 0 && length(module.network.default_security_group.egress) == 0
    error_message = "The VPC's default security group must be closed."
  }
  assert {
    condition     = module.network.flow_log.traffic_type == "ALL" && module.network.flow_log_group.kms_key_id == aws_kms_key.main.arn
    error_message = "VPC flow logs (ALL traffic) go to a KMS-encrypted log group."
  }
  assert {
    condition = alltrue([
      module.edge.listeners.https.protocol == "HTTPS",
      module.edge.listeners.https.port == 443,
      module.edge.listeners.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06",
      module.edge.listeners.test.protocol == "HTTPS",
      module.edge.listeners.test.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06",
    ])
    error_message = "HTTPS listeners use the TLS 1.2+ (TLS 1.3) policy."
  }
  assert {
    condition = alltrue([
      module.edge.listeners.http.default_action[0].type == "redirect",
      module.edge.listeners.http.default_action[0].redirect[0].protocol == "HTTPS",
      module.edge.listeners.http.default_action[0].redirect[0].status_code == "HTTP_301",
    ])
    error_message = "HTTP must redirect to HTTPS."
  }
  assert {
    condition     = module.edge.load_balancer.drop_invalid_header_fields && module.edge.load_balancer.access_logs[0].enabled && module.edge.load_balancer.access_logs[0].bucket == module.logs_bucket.id
    error_message = "ALB drops invalid headers and writes access logs to the log bucket."
  }
  assert {
    condition = alltrue([
      module.edge.web_acl_association.resource_arn == module.edge.load_balancer.arn,
      length([for r in module.edge.web_acl.rule : r if length(r.statement[0].rate_based_statement) > 0]) == 1,
      toset([for r in module.edge.web_acl.rule : r.statement[0].managed_rule_group_statement[0].name if length(r.statement[0].managed_rule_group_statement) > 0]) == toset([
        "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList", "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet", "AWSManagedRulesSQLiRuleSet",
      ]),
    ])
    error_message = "WAF is attached to the ALB with AWS managed rule groups and a rate-based rule."
  }

  # ---- data ----
  assert {
    condition = alltrue([
      module.database.instance.publicly_accessible == false,
      module.database.instance.multi_az == false,
      module.database.instance.instance_class == "db.t4g.micro",
      module.database.instance.storage_encrypted,
      module.database.instance.kms_key_id == aws_kms_key.main.arn,
      module.database.instance.manage_master_user_password,
      module.database.instance.password == null,
      module.database.instance.iam_database_authentication_enabled,
      module.database.instance.backup_retention_period >= 7,
      module.database.instance.deletion_protection,
      module.database.instance.performance_insights_enabled,
      module.database.instance.performance_insights_kms_key_id == aws_kms_key.main.arn,
      module.database.instance.max_allocated_storage > module.database.instance.allocated_storage,
      startswith(module.database.instance.engine_version, "16"),
    ])
    error_message = "starter database: single-AZ db.t4g.micro, private, CMK-encrypted, managed password, IAM auth, backups, deletion protection, Performance Insights, storage autoscaling."
  }
  assert {
    condition     = contains([for p in module.database.parameter_group.parameter : "${p.name}=${p.value}"], "rds.force_ssl=1")
    error_message = "The database forces TLS."
  }
  assert {
    condition     = module.database.proxy == null
    error_message = "starter has no RDS Proxy."
  }

  # ---- containers ----
  assert {
    condition = alltrue([for r in module.ecr.repositories : alltrue([
      r.image_tag_mutability == "IMMUTABLE",
      r.image_scanning_configuration[0].scan_on_push,
      r.encryption_configuration[0].encryption_type == "KMS",
      r.encryption_configuration[0].kms_key == aws_kms_key.main.arn,
    ])]) && toset(keys(module.ecr.repositories)) == toset(["coffer-api", "coffer-bot"]) && length(module.ecr.lifecycle_policies) == 2
    error_message = "ECR repositories coffer-api and coffer-bot: immutable, scan on push, KMS, lifecycle policy."
  }
  assert {
    condition = alltrue([for k, td in module.ecs.task_definitions : alltrue([
      for c in jsondecode(td.container_definitions) : alltrue([
        c.readonlyRootFilesystem == true,
        c.user == "10001",
        c.privileged == false,
        c.logConfiguration.logDriver == "awslogs",
        c.logConfiguration.options["awslogs-group"] == module.ecs.log_groups[k].name,
      ])
    ])])
    error_message = "Every container: read-only root fs, uid 10001, not privileged, awslogs to its own log group."
  }
  assert {
    condition     = alltrue([for g in module.ecs.log_groups : g.kms_key_id == aws_kms_key.main.arn && g.retention_in_days >= 365])
    error_message = "Container log groups have retention and KMS."
  }
  assert {
    condition = (
      toset([for s in jsondecode(module.ecs.task_definitions["api"].container_definitions)[0].secrets : s.name]) == toset(["COFFER_DATABASE_URL", "COFFER_ROBLOX_WEBHOOK_SECRET"])
      && toset([for s in jsondecode(module.ecs.task_definitions["bot"].container_definitions)[0].secrets : s.name]) == toset(["COFFER_BOT_DISCORD_TOKEN", "COFFER_BOT_API_KEY", "COFFER_BOT_DATABASE_URL"])
      && alltrue([for td in module.ecs.task_definitions : alltrue([for e in jsondecode(td.container_definitions)[0].environment : length(regexall("(TOKEN|SECRET|PASSWORD|DATABASE_URL|API_KEY)", e.name)) == 0])])
    )
    error_message = "Secrets come from Secrets Manager (valueFrom); no secret-like name in plain environment."
  }
  assert {
    condition = (
      jsondecode(module.ecs.task_definitions["api"].container_definitions)[0].command == ["coffer", "serve", "--host", "0.0.0.0", "--port", "8000"]
      && jsondecode(module.ecs.task_definitions["migrate"].container_definitions)[0].command == ["coffer", "db", "upgrade"]
      && jsondecode(module.ecs.task_definitions["bot"].container_definitions)[0].command == ["coffer-bot"]
      && module.ecs.task_definitions["api"].cpu == "256" && module.ecs.task_definitions["api"].memory == "512"
    )
    error_message = "Task commands follow the conventions; starter uses the smallest Fargate size."
  }
  assert {
    condition     = module.ecs.task_definitions["api"].execution_role_arn != null && module.ecs.task_definitions["api"].task_role_arn != null && one(module.ecs.cluster.setting).value == "enabled"
    error_message = "Task and execution roles are set; Container Insights is enabled."
  }

  # ---- services and deploys ----
  assert {
    condition = alltrue([
      module.ecs.services.bot.deployment_minimum_healthy_percent == 0,
      module.ecs.services.bot.deployment_maximum_percent == 100,
      module.ecs.services.bot.desired_count == 1,
      module.ecs.services.bot.deployment_controller[0].type == "ECS",
    ])
    error_message = "Bot deploys with minimum 0% / maximum 100% and one task: never two bots on one token."
  }
  assert {
    condition     = module.ecs.services.api.deployment_controller[0].type == "CODE_DEPLOY" && one(module.ecs.services.api.load_balancer).container_name == "api" && one(module.ecs.services.api.load_balancer).container_port == 8000
    error_message = "The API service is deployed by CodeDeploy behind the ALB."
  }
  assert {
    condition = alltrue([
      module.pipeline.codedeploy_deployment_group.auto_rollback_configuration[0].enabled,
      contains(module.pipeline.codedeploy_deployment_group.auto_rollback_configuration[0].events, "DEPLOYMENT_FAILURE"),
      contains(module.pipeline.codedeploy_deployment_group.auto_rollback_configuration[0].events, "DEPLOYMENT_STOP_ON_ALARM"),
      module.pipeline.codedeploy_deployment_group.alarm_configuration[0].enabled,
      length(module.pipeline.codedeploy_deployment_group.alarm_configuration[0].alarms) > 0,
      length(module.pipeline.codedeploy_deployment_group.load_balancer_info[0].target_group_pair_info[0].test_traffic_route[0].listener_arns) == 1,
      module.pipeline.codedeploy_deployment_group.deployment_style[0].deployment_type == "BLUE_GREEN",
    ])
    error_message = "CodeDeploy blue/green with a test listener and rollback on failure and on alarms."
  }
  assert {
    condition = (
      [for s in module.pipeline.codepipeline.stage : s.name] == ["Source", "Build", "Migrate", "Deploy"]
      && module.pipeline.codepipeline.stage[0].action[0].provider == "CodeStarSourceConnection"
      && module.pipeline.codepipeline.stage[1].action[0].provider == "CodeBuild"
      && module.pipeline.codepipeline.stage[2].action[0].provider == "CodeBuild"
      && toset([for a in module.pipeline.codepipeline.stage[3].action : a.provider]) == toset(["CodeDeployToECS", "ECS"])
    )
    error_message = "Pipeline: Source -> Build -> Migrate -> Deploy (CodeDeployToECS for api, ECS for bot)."
  }
  assert {
    condition = alltrue([
      module.pipeline.codebuild_projects.build.source[0].buildspec == "buildspec.yml",
      contains([for e in module.pipeline.codebuild_projects.build.environment[0].environment_variable : e.name], "AWS_ACCOUNT_ID"),
      contains([for e in module.pipeline.codebuild_projects.build.environment[0].environment_variable : e.name], "COFFER_API_REPO_URI"),
      contains([for e in module.pipeline.codebuild_projects.build.environment[0].environment_variable : e.name], "COFFER_BOT_REPO_URI"),
      strcontains(module.pipeline.codebuild_projects.migrate.source[0].buildspec, "aws ecs run-task"),
    ])
    error_message = "Build runs buildspec.yml with account/repository variables; Migrate runs the one-off task."
  }
  assert {
    condition = alltrue([
      one(module.pipeline.codepipeline.artifact_store).encryption_key[0].type == "KMS",
      one(module.pipeline.artifact_bucket_encryption.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms",
      module.pipeline.artifact_bucket_versioning.versioning_configuration[0].status == "Enabled",
      module.pipeline.artifact_bucket_public_access_block.block_public_acls,
      module.pipeline.artifact_bucket_public_access_block.block_public_policy,
      module.pipeline.artifact_bucket_public_access_block.ignore_public_acls,
      module.pipeline.artifact_bucket_public_access_block.restrict_public_buckets,
    ])
    error_message = "Artifact bucket: KMS, versioned, public access blocked."
  }

  # ---- scaling and alarms ----
  assert {
    condition     = module.ecs.autoscaling_target.min_capacity == 1 && module.ecs.autoscaling_target.max_capacity == 3
    error_message = "starter: API scales between 1 and 3 tasks."
  }
  assert {
    condition = alltrue([for p in module.ecs.autoscaling_policies : alltrue([
      p.policy_type == "TargetTrackingScaling",
      p.target_tracking_scaling_policy_configuration[0].scale_in_cooldown > p.target_tracking_scaling_policy_configuration[0].scale_out_cooldown,
    ])])
    error_message = "Target tracking policies scale in more slowly than out."
  }
  assert {
    condition = (
      module.ecs.autoscaling_policies.cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
      && length([for m in module.ecs.autoscaling_policies.requests.target_tracking_scaling_policy_configuration[0].customized_metric_specification[0].metrics : m if length(m.metric_stat) > 0 && try(m.metric_stat[0].metric[0].metric_name, "") == "RequestCount"]) == 2
    )
    error_message = "Scaling on CPU and on ALB requests per task (both blue/green target groups)."
  }
  assert {
    condition     = toset(keys(module.database.alarms)) == toset(["cpu", "connections", "free_storage"]) && alltrue([for a in module.database.alarms : contains(a.alarm_actions, aws_sns_topic.alarms.arn)])
    error_message = "starter: CPU, connections and free-storage alarms notify the SNS topic."
  }
  assert {
    condition     = alltrue([for a in module.edge.alarms : contains(a.alarm_actions, aws_sns_topic.alarms.arn)]) && module.edge.alarms.target_5xx.metric_name == "HTTPCode_Target_5XX_Count"
    error_message = "5xx alarms notify the SNS topic."
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.main.arn && length(aws_sns_topic_subscription.alarm_email) == 1
    error_message = "The alarm topic is KMS-encrypted and has the team's subscriptions."
  }
  assert {
    condition     = alltrue([for s in aws_secretsmanager_secret.app : s.kms_key_id == aws_kms_key.main.arn]) && aws_kms_key.main.enable_key_rotation
    error_message = "Secrets use the rotating customer-managed key."
  }
}

run "hardened" {
  command = apply

  variables {
    profile = "hardened"
  }

  assert {
    condition     = module.network.nat_gateway_count == 2 && length(module.network.private_routes) == 2
    error_message = "hardened: one NAT gateway per AZ routes the private subnets."
  }
  assert {
    condition = alltrue([
      !module.ecs.services.api.network_configuration[0].assign_public_ip,
      !module.ecs.services.bot.network_configuration[0].assign_public_ip,
      toset(module.ecs.services.api.network_configuration[0].subnets) == toset(module.network.private_subnet_ids),
    ])
    error_message = "hardened: tasks run in private subnets without public IPs."
  }
  assert {
    condition = alltrue([
      module.database.instance.multi_az,
      module.database.instance.publicly_accessible == false,
      module.database.instance.deletion_protection,
      module.database.instance.backup_retention_period >= 14,
      module.database.instance.instance_class != "db.t4g.micro",
    ])
    error_message = "hardened database: Multi-AZ, private, deletion protection, longer backups, larger class."
  }
  assert {
    condition = alltrue([
      module.database.proxy.require_tls,
      length(aws_vpc_security_group_ingress_rule.db_from_tasks) == 0,
      aws_vpc_security_group_ingress_rule.db_from_proxy[0].referenced_security_group_id == aws_security_group.db_proxy[0].id,
      toset([for r in aws_vpc_security_group_ingress_rule.proxy_from_tasks : r.referenced_security_group_id]) == toset([aws_security_group.api.id, aws_security_group.bot.id]),
      module.database.proxy_target_group.connection_pool_config[0].max_connections_percent <= 90,
    ])
    error_message = "hardened: tasks reach the database only through RDS Proxy (TLS), which bounds connections."
  }
  assert {
    condition     = module.ecs.autoscaling_target.min_capacity == 2 && module.ecs.autoscaling_target.max_capacity == 20 && length(module.ecs.autoscaling_policies) == 2
    error_message = "hardened: API scales between 2 and 20 tasks on requests and CPU."
  }
  assert {
    condition     = module.ecs.task_definitions["api"].cpu == "1024" && module.ecs.task_definitions["api"].memory == "2048"
    error_message = "hardened: larger API tasks."
  }
  assert {
    condition     = module.ecs.services.bot.deployment_minimum_healthy_percent == 0 && module.ecs.services.bot.deployment_maximum_percent == 100
    error_message = "Bot deployment percentages hold in hardened too."
  }
}

run "hardened_with_read_replica" {
  command = apply

  variables {
    profile         = "hardened"
    db_read_replica = true
  }

  assert {
    condition     = module.database.replica.publicly_accessible == false && contains(keys(module.database.alarms), "replica_lag")
    error_message = "A read replica is private and has a replica-lag alarm."
  }
}

run "hardened_aurora_serverless" {
  command = apply

  variables {
    profile             = "hardened"
    database_engine     = "aurora-postgresql"
    aurora_min_capacity = 1
    aurora_max_capacity = 32
  }

  assert {
    condition = alltrue([
      module.database.instance == null,
      module.database.cluster.serverlessv2_scaling_configuration[0].min_capacity == 1,
      module.database.cluster.serverlessv2_scaling_configuration[0].max_capacity == 32,
      module.database.cluster.storage_encrypted,
      module.database.cluster.kms_key_id == aws_kms_key.main.arn,
      module.database.cluster.manage_master_user_password,
      module.database.cluster.iam_database_authentication_enabled,
      module.database.cluster.deletion_protection,
      length(module.database.cluster_instances) == 2,
      alltrue([for i in module.database.cluster_instances : i.instance_class == "db.serverless" && i.publicly_accessible == false && i.performance_insights_enabled]),
    ])
    error_message = "Aurora Serverless v2: capacity from variables, encrypted, managed password, IAM auth, writer + reader, private."
  }
  assert {
    condition     = toset(keys(module.database.alarms)) == toset(["cpu", "connections", "free_storage", "replica_lag", "capacity"])
    error_message = "Aurora alarms: CPU, connections, free storage, replica lag and capacity."
  }
  assert {
    condition     = module.database.proxy != null
    error_message = "RDS Proxy fronts Aurora in hardened."
  }
}

run "aurora_is_hardened_only" {
  command = plan

  variables {
    profile         = "starter"
    database_engine = "aurora-postgresql"
  }

  expect_failures = [var.database_engine]
}

run "profile_is_validated" {
  command = plan

  variables {
    profile = "cheap"
  }

  expect_failures = [var.profile]
}
