"""A Python function in a container image with the extension at /opt/extensions (Dockerfile.python).
Reads APPCONFIG_PATH through the extension; the port follows the extension's own variable."""
import json
import os
import urllib.request

PORT = os.environ.get("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "2772")


def handler(event, context):
    url = f"http://localhost:{PORT}{os.environ['APPCONFIG_PATH']}"
    with urllib.request.urlopen(url, timeout=3) as r:
        return {"version": r.headers.get("Configuration-Version"), "config": json.loads(r.read())}
