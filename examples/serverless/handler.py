"""Reads one AppConfig profile through the extension on localhost (the path comes from the
template's APPCONFIG_PATH; the port follows the extension's own variable)."""
import json
import os
import urllib.request

PORT = os.environ.get("AWS_APPCONFIG_EXTENSION_HTTP_PORT", "2772")


def handler(event, context):
    url = f"http://localhost:{PORT}{os.environ['APPCONFIG_PATH']}"
    with urllib.request.urlopen(url, timeout=3) as r:
        return {"version": r.headers.get("Configuration-Version"), "config": json.loads(r.read())}
