variable "layer_zip_dir" {
  description = "Folder holding appconfig-extension-x86_64.zip and appconfig-extension-arm64.zip (make layer: build/layer)"
  type        = string
}

variable "layer_name" {
  description = "Layer name prefix; the architecture is appended"
  type        = string
  default     = "appconfig-extension"
}

variable "configurations" {
  description = "AppConfig configurations the functions read, by ID (IAM names AppConfig resources by ID)"
  type = list(object({
    application_id = string
    environment_id = string
    profile_id     = string
  }))
}
