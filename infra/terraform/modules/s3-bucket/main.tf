# A private, versioned, encrypted S3 bucket with TLS-only access and a lifecycle.
# Used for the pipeline's artifacts (SSE-KMS with the workload key) and for the
# access-log sink (SSE-S3: ALB access logs and S3 server access logs cannot be
# written to SSE-KMS buckets).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60, < 6.0"
    }
  }
}

variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE-KMS; null means SSE-S3 (required for log sinks)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's server access logs (used when access_logging is true)."
  type        = string
  default     = null
}

variable "access_logging" {
  description = "Write S3 server access logs to access_log_bucket; false only for the log sink itself."
  type        = bool
  default     = true
}

variable "expire_noncurrent_after_days" {
  description = "Days after which noncurrent object versions are deleted."
  type        = number
  default     = 90
}

variable "expire_current_after_days" {
  description = "Days after which current objects expire (null keeps them)."
  type        = number
  default     = null
}

variable "extra_policy_statements" {
  description = "Additional bucket policy statements (e.g. log delivery principals), a list of objects."
  type        = any
  default     = []
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket."
  type        = bool
  default     = false
}

variable "tags" {
  type    = map(string)
  default = {}
}

data "aws_partition" "current" {}

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_19:Encrypted by aws_s3_bucket_server_side_encryption_configuration.this (SSE-KMS or SSE-S3, asserted by terraform test); the plan graph loses that link in nested modules.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DR choice per studio; artifacts and logs are re-creatable.
  #checkov:skip=CKV2_AWS_62:No consumer needs S3 event notifications for artifacts or logs.
  #checkov:skip=CKV_AWS_18:Access logging goes to the workload log bucket (aws_s3_bucket_logging); the log sink itself cannot log to itself.
  #checkov:skip=CKV_AWS_145:SSE-KMS is used whenever kms_key_arn is set; the log sink must use SSE-S3 (ALB and S3 access logs do not support SSE-KMS).
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = var.kms_key_arn != null
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "retention"
    status = "Enabled"
    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = var.expire_noncurrent_after_days
    }

    dynamic "expiration" {
      for_each = var.expire_current_after_days == null ? [] : [var.expire_current_after_days]
      content {
        days = expiration.value
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
}

resource "aws_s3_bucket_logging" "this" {
  count         = var.access_logging ? 1 : 0
  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${var.name}/"
}

resource "aws_s3_bucket_policy" "this" {
  bucket = aws_s3_bucket.this.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ], var.extra_policy_statements)
  })

  depends_on = [aws_s3_bucket_public_access_block.this]
}

output "id" {
  description = "Bucket name, available once its policy is in place (log deliveries check it)."
  value       = aws_s3_bucket.this.id
  depends_on  = [aws_s3_bucket_policy.this, aws_s3_bucket_public_access_block.this]
}

output "arn" {
  value = aws_s3_bucket.this.arn
}

# Whole resource objects, for the roots' `terraform test` assertions.
output "encryption" {
  value = aws_s3_bucket_server_side_encryption_configuration.this
}

output "versioning" {
  value = aws_s3_bucket_versioning.this
}

output "public_access_block" {
  value = aws_s3_bucket_public_access_block.this
}

output "policy" {
  value = aws_s3_bucket_policy.this
}
