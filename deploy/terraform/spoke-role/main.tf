# sgportal spoke role for one member account (docs/aws-roles.md). Instantiate the module once
# per member account, with a provider that can create IAM roles there.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 4.0"
    }
  }
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  account_arn = "arn:${data.aws_partition.current.partition}:ec2:*:${data.aws_caller_identity.current.account_id}"
}

resource "aws_iam_role" "spoke" {
  name                 = var.role_name
  description          = "sgportal reverts denied security-group changes with this role."
  max_session_duration = 3600

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = var.hub_role_arn }
      Action    = ["sts:AssumeRole", "sts:SetSourceIdentity"]
      Condition = { StringEquals = { "sts:ExternalId" = var.external_id } }
    }]
  })
}

resource "aws_iam_role_policy" "revert" {
  name = "sgportal-revert-security-group-rules"
  role = aws_iam_role.spoke.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "DescribeSecurityGroups"
        Effect   = "Allow"
        Action   = ["ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"]
        Resource = "*"
      },
      {
        Sid    = "RevertSecurityGroupRules"
        Effect = "Allow"
        Action = [
          "ec2:AuthorizeSecurityGroupEgress",
          "ec2:AuthorizeSecurityGroupIngress",
          "ec2:ModifySecurityGroupRules",
          "ec2:RevokeSecurityGroupEgress",
          "ec2:RevokeSecurityGroupIngress",
        ]
        Resource = [
          "${local.account_arn}:security-group/*",
          "${local.account_arn}:security-group-rule/*",
        ]
      },
    ]
  })
}
