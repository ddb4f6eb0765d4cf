output "spoke_role_arn" {
  description = "Enter this as the AWS account's spoke role ARN in sgportal's admin."
  value       = aws_iam_role.spoke.arn
}
