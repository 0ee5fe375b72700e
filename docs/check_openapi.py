#!/usr/bin/env python3
"""Checks docs/openapi.yaml against a running adserver's real answers.

    python3 docs/check_openapi.py PUBLIC_URL ADMIN_URL

For each probe below it sends the request and checks that the status is
documented for that path and method, that the Content-Type matches, that
documented headers are present, and that the JSON body validates against
the documented schema. The spec itself is validated first. Exits non-zero
with every mismatch listed."""

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import yaml
from openapi_spec_validator import validate

SPEC_PATH = Path(__file__).with_name("openapi.yaml")

# (listener, method, path and query, expected status)
PROBES = [
    ("public", "GET", "/ad_request?country=us&lang=eng", 200),
    ("public", "GET", "/ad_request?country=US&lang=en-US&exclude=59d4fb16", 200),
    ("public", "GET", "/ad_request?country=zz&lang=eng", 404),
    ("public", "GET", "/ad_request?country=usa&lang=eng", 400),
    ("public", "GET", "/ad_request?lang=eng", 400),
    ("public", "GET", "/ad_request?country=us&lang=eng&utc_offset=9999", 400),
    ("public", "POST", "/ad_request?country=us&lang=eng", 405),
    ("public", "HEAD", "/ad_request?country=us&lang=eng", 200),
    ("public", "GET", "/healthz", 200),
    ("public", "GET", "/readyz", 200),
    ("admin", "GET", "/metrics", 200),
    ("admin", "GET", "/explain?country=us&lang=eng&hour=3", 200),
    ("admin", "GET", "/explain?country=us&lang=eng&hour=99", 400),
]


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def send(base, method, path):
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main():
    public, admin = sys.argv[1], sys.argv[2]
    spec = yaml.safe_load(SPEC_PATH.read_text())
    validate(spec)
    schema_root = {"components": spec["components"]}
    failures = []
    for listener, method, target, expected in PROBES:
        base = public if listener == "public" else admin
        status, headers, body = send(base, method, target)
        where = f"{method} {target} ({listener})"
        if status != expected:
            failures.append(f"{where}: status {status}, expected {expected}")
            continue
        path = target.split("?")[0]
        operation = spec["paths"].get(path, {}).get(method.lower())
        if status == 405:
            # An undocumented method gets the shared 405 answer.
            documented = spec["components"]["responses"]["MethodNotAllowed"]
        elif operation is None:
            failures.append(f"{where}: {method.lower()} {path} is not in the spec")
            continue
        else:
            documented = resolve(spec, operation["responses"].get(str(status)))
        if documented is None:
            failures.append(f"{where}: status {status} is not documented")
            continue
        for name in documented.get("headers", {}):
            if name.lower() not in {h.lower() for h in headers}:
                failures.append(f"{where}: documented header {name} missing")
        content = documented.get("content")
        if not content or method == "HEAD":
            continue
        media = headers.get("Content-Type", headers.get("content-type", "")).split(";")[0]
        if media not in content:
            failures.append(f"{where}: Content-Type {media}, documented {list(content)}")
            continue
        schema = content[media].get("schema", {})
        if media == "application/json":
            try:
                document = json.loads(body)
                jsonschema.validate(document, {**schema, **schema_root})
            except (ValueError, jsonschema.ValidationError) as error:
                failures.append(f"{where}: body does not match the schema: {error}")
    for failure in failures:
        print("FAIL", failure)
    print(f"openapi: {len(PROBES) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
