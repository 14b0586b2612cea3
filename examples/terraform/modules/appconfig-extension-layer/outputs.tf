output "layer_arns" {
  description = "Layer version ARN per architecture: { x86_64 = ..., arm64 = ... }"
  value       = { for arch, layer in aws_lambda_layer_version.extension : arch => layer.arn }
}

output "read_policy_json" {
  description = "IAM policy allowing the extension to read the configurations"
  value       = data.aws_iam_policy_document.read.json
}
