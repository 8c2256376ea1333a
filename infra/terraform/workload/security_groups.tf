# Who may talk to whom, in one place:
#   internet --443/80--> alb --8000--> api tasks --5432--> (proxy -->) database
#   bot tasks (no inbound) --5432--> (proxy -->) database
# Tasks and the database accept nothing else; the VPC's default SG is closed.

locals {
  db_client_sgs = { api = aws_security_group.api.id, bot = aws_security_group.bot.id }
  # Where tasks send PostgreSQL traffic: the proxy when enabled, else the DB.
  db_entry_sg = local.db_proxy_enabled ? aws_security_group.db_proxy[0].id : aws_security_group.db.id
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached through module inputs (ALB, ECS services, RDS/Proxy); checkov cannot follow references across module boundaries.
  provider    = aws.workload
  name        = "${local.name}-alb"
  description = "Public HTTPS entry of the coffer API"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  provider          = aws.workload
  for_each          = toset(["0.0.0.0/0", "::/0"])
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = strcontains(each.key, ":") ? null : each.key
  cidr_ipv6         = strcontains(each.key, ":") ? each.key : null
}

resource "aws_vpc_security_group_ingress_rule" "alb_http_redirect" {
  #checkov:skip=CKV_AWS_260:Port 80 only serves a 301 redirect to HTTPS (listener has no forward action).
  provider          = aws.workload
  for_each          = toset(["0.0.0.0/0", "::/0"])
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = strcontains(each.key, ":") ? null : each.key
  cidr_ipv6         = strcontains(each.key, ":") ? each.key : null
}

resource "aws_vpc_security_group_ingress_rule" "alb_test_listener" {
  provider          = aws.workload
  for_each          = toset(var.test_listener_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "Blue/green test listener from operator networks"
  ip_protocol       = "tcp"
  from_port         = module.edge.test_listener_port
  to_port           = module.edge.test_listener_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  provider                     = aws.workload
  security_group_id            = aws_security_group.alb.id
  description                  = "To API tasks"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
  referenced_security_group_id = aws_security_group.api.id
}

# ---- API tasks ------------------------------------------------------------

resource "aws_security_group" "api" {
  #checkov:skip=CKV2_AWS_5:Attached through module inputs (ALB, ECS services, RDS/Proxy); checkov cannot follow references across module boundaries.
  provider    = aws.workload
  name        = "${local.name}-api"
  description = "coffer API tasks: inbound only from the load balancer"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-api" }
}

# The only inbound rule of the API tasks.
resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  provider                     = aws.workload
  security_group_id            = aws_security_group.api.id
  description                  = "From the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
  referenced_security_group_id = aws_security_group.alb.id
}

# ---- bot tasks ------------------------------------------------------------

resource "aws_security_group" "bot" {
  #checkov:skip=CKV2_AWS_5:Attached through module inputs (ALB, ECS services, RDS/Proxy); checkov cannot follow references across module boundaries.
  provider    = aws.workload
  name        = "${local.name}-bot"
  description = "coffer Discord bot tasks: no inbound"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-bot" }
}

# ---- egress shared by the tasks -------------------------------------------

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  provider          = aws.workload
  for_each          = local.db_client_sgs
  security_group_id = each.value
  description       = "HTTPS out: ECR, Secrets Manager, CloudWatch, Discord, Roblox Open Cloud"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_postgres" {
  provider                     = aws.workload
  for_each                     = local.db_client_sgs
  security_group_id            = each.value
  description                  = "PostgreSQL to the database entry point"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = local.db_entry_sg
}

# ---- database -------------------------------------------------------------

resource "aws_security_group" "db" {
  #checkov:skip=CKV2_AWS_5:Attached through module inputs (ALB, ECS services, RDS/Proxy); checkov cannot follow references across module boundaries.
  provider    = aws.workload
  name        = "${local.name}-db"
  description = "coffer PostgreSQL: inbound only from the tasks (or RDS Proxy)"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  provider                     = aws.workload
  for_each                     = local.db_proxy_enabled ? {} : local.db_client_sgs
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_security_group" "db_proxy" {
  #checkov:skip=CKV2_AWS_5:Attached through module inputs (ALB, ECS services, RDS/Proxy); checkov cannot follow references across module boundaries.
  provider    = aws.workload
  count       = local.db_proxy_enabled ? 1 : 0
  name        = "${local.name}-db-proxy"
  description = "RDS Proxy: inbound only from the tasks"
  vpc_id      = module.network.vpc_id
  tags        = { Name = "${local.name}-db-proxy" }
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_tasks" {
  provider                     = aws.workload
  for_each                     = local.db_proxy_enabled ? local.db_client_sgs : {}
  security_group_id            = aws_security_group.db_proxy[0].id
  description                  = "PostgreSQL from ${each.key} tasks"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_db" {
  provider                     = aws.workload
  count                        = local.db_proxy_enabled ? 1 : 0
  security_group_id            = aws_security_group.db_proxy[0].id
  description                  = "PostgreSQL to the database"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db.id
}

resource "aws_vpc_security_group_ingress_rule" "db_from_proxy" {
  provider                     = aws.workload
  count                        = local.db_proxy_enabled ? 1 : 0
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from RDS Proxy"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.db_proxy[0].id
}
