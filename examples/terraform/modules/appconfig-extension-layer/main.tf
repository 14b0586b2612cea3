# Publishes the appconfig-extension layer for both architectures from the `make layer` zips and
# gives the IAM policy a function needs to read the configurations it names.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

locals {
  architectures = toset(["x86_64", "arm64"])
}

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

resource "aws_lambda_layer_version" "extension" {
  for_each = local.architectures

  layer_name               = "${var.layer_name}-${each.key}"
  description              = "appconfig-extension (AWS AppConfig Agent Lambda extension, drop-in) for ${each.key}"
  filename                 = "${var.layer_zip_dir}/appconfig-extension-${each.key}.zip"
  source_code_hash         = filebase64sha256("${var.layer_zip_dir}/appconfig-extension-${each.key}.zip")
  compatible_architectures = [each.key]
}

# What the extension calls: a session, then the latest configuration (AppConfig Data API).
data "aws_iam_policy_document" "read" {
  statement {
    sid     = "ReadAppConfigThroughTheExtension"
    actions = ["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"]
    resources = [
      for c in var.configurations :
      "arn:${data.aws_partition.current.partition}:appconfig:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:application/${c.application_id}/environment/${c.environment_id}/configuration/${c.profile_id}"
    ]
  }
}
