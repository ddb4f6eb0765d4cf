variable "hub_role_arn" {
  description = "The role allowed to assume the spoke role: the tenant's hub role, or SGPORTAL_AWS_PRINCIPAL when there is no hub."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.hub_role_arn))
    error_message = "hub_role_arn must be an IAM role ARN."
  }
}

variable "external_id" {
  description = "The tenant's ExternalId, as sgportal shows it on the tenant's admin page."
  type        = string
  sensitive   = true

  validation {
    condition     = can(regex("^[[:alnum:]_+=,.@:/-]{2,1224}$", var.external_id))
    error_message = "external_id must be 2-1224 characters of letters, digits and _+=,.@:/-."
  }
}

variable "role_name" {
  description = "Name of the spoke role (the same in every account)."
  type        = string
  default     = "sgportal-spoke"
}
