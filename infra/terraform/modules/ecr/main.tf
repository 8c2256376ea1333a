# ECR repositories: immutable tags, scan on push, KMS encryption and a lifecycle
# policy that keeps the last N release images and drops untagged layers.

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "repositories" {
  description = "Repository names (the images: coffer-api, coffer-bot)."
  type        = set(string)
}

variable "kms_key_arn" {
  type = string
}

variable "keep_images" {
  description = "How many tagged images each repository keeps (rollback depth)."
  type        = number
  default     = 30
}

variable "tags" {
  type    = map(string)
  default = {}
}

resource "aws_ecr_repository" "this" {
  for_each             = var.repositories
  name                 = each.value
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = var.tags
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each   = aws_ecr_repository.this
  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        # buildspec's layer cache (deploy/build_images.sh) is pushed as buildcache-<sha>: only the
        # newest two are useful, and they must not count against the deployable images below
        rulePriority = 2
        description  = "Keep the last 2 layer-cache images"
        selection = {
          tagStatus     = "tagged"
          tagPrefixList = ["buildcache-"]
          countType     = "imageCountMoreThan"
          countNumber   = 2
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Keep the last ${var.keep_images} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}

output "repository_urls" {
  value = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  value = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "repositories" {
  value = aws_ecr_repository.this
}

output "lifecycle_policies" {
  value = aws_ecr_lifecycle_policy.this
}
