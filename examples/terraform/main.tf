# A function with the appconfig-extension layer attached: `make layer` in the repository root,
# then `terraform init && terraform apply -var application_id=... -var environment_id=... -var profile_id=...`.

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

variable "architecture" {
  type    = string
  default = "arm64"
  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}
variable "application_id" { type = string }
variable "environment_id" { type = string }
variable "profile_id" { type = string }

module "appconfig_extension" {
  source        = "./modules/appconfig-extension-layer"
  layer_zip_dir = "${path.module}/../../build/layer"
  configurations = [{
    application_id = var.application_id
    environment_id = var.environment_id
    profile_id     = var.profile_id
  }]
}

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  name               = "reads-appconfig-through-extension"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.function.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy" "appconfig" {
  name   = "appconfig-read"
  role   = aws_iam_role.function.id
  policy = module.appconfig_extension.read_policy_json
}

data "archive_file" "function" {
  type        = "zip"
  source_file = "${path.module}/../sam/src/app.py"
  output_path = "${path.module}/.build/function.zip"
}

resource "aws_lambda_function" "reads_configuration" {
  function_name    = "reads-appconfig-through-extension"
  role             = aws_iam_role.function.arn
  runtime          = "python3.12"
  handler          = "app.handler"
  architectures    = [var.architecture]
  filename         = data.archive_file.function.output_path
  source_code_hash = data.archive_file.function.output_base64sha256
  timeout          = 10
  layers           = [module.appconfig_extension.layer_arns[var.architecture]]

  environment {
    variables = {
      APPCONFIG_PATH                        = "/applications/${var.application_id}/environments/${var.environment_id}/configurations/${var.profile_id}"
      AWS_APPCONFIG_EXTENSION_PREFETCH_LIST = "${var.application_id}:${var.environment_id}:${var.profile_id}"
    }
  }
}

output "layer_arns" {
  value = module.appconfig_extension.layer_arns
}
