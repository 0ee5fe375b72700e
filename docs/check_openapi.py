#!/usr/bin/env python3
"""Checks docs/openapi.yaml against a running adserver's real answers.

    python3 docs/check_openapi.py PUBLIC_URL ADMIN_URL [UNTRACKED_PUBLIC_URL]

For each probe below it sends the request and checks that the status is
documented for that path and method, that the Content-Type matches, that
documented headers are present (with a documented value, when the doc
lists the values), and that the body fits the document: JSON
validates against the documented schema, XML is the documented VAST shape,
CSV has the documented columns. Some probes check more (a `check` name,
see check_body). The spec itself is validated first. Exits non-zero with every
mismatch listed.

Probe paths may hold `{event}` (the path and query of a real `event_url`,
taken from an ad answer of PUBLIC_URL), `{forged}` (the same with one
character of the token changed) and `{today}` (the UTC day). When
UNTRACKED_PUBLIC_URL is given (a server run with `--tracking off`), its ad
answers are checked to carry none of the tracking fields or URLs."""

import csv
import datetime
import io
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import yaml
from openapi_spec_validator import validate

SPEC_PATH = Path(__file__).with_name("openapi.yaml")

# (listener, method, path and query, expected status[, check])
PROBES = [
    ("public", "GET", "/ad_request?country=us&lang=eng", 200, "tracked"),
    ("public", "GET", "/ad_request?country=us&lang=eng&format=json", 200, "tracked"),
    ("public", "GET", "/ad_request?country=US&lang=en-US&exclude=59d4fb16", 200),
    ("public", "GET", "/ad_request?country=zz&lang=eng", 404),
    ("public", "GET", "/ad_request?country=usa&lang=eng", 400),
    ("public", "GET", "/ad_request?lang=eng", 400),
    ("public", "GET", "/ad_request?country=us&lang=eng&utc_offset=9999", 400),
    ("public", "POST", "/ad_request?country=us&lang=eng", 405),
    ("public", "HEAD", "/ad_request?country=us&lang=eng", 200),
    ("public", "GET", "/ad_request?country=us&lang=eng&format=vast", 200, "vast_ad"),
    ("public", "GET", "/ad_request?country=zz&lang=eng&format=vast", 200, "vast_empty"),
    ("public", "GET", "/ad_request?country=us&lang=eng&format=xml", 400, "names:format"),
    ("public", "GET", "{event}&e=impression", 204),
    ("public", "GET", "{event}&e=impression", 204),  # a repeat is still 204
    ("public", "POST", "{event}&e=start", 204),
    ("public", "GET", "{event}&e=error&code=402", 204),
    ("public", "GET", "{event}&e=bogus", 400, "names:e"),
    ("public", "GET", "{event}", 400, "names:e"),
    ("public", "GET", "{forged}&e=complete", 403, "invalid_event"),
    ("public", "GET", "/event?t=not-a-token&e=complete", 403, "invalid_event"),
    ("public", "GET", "/event?e=complete", 403, "invalid_event"),
    ("public", "PUT", "{event}&e=start", 405),
    ("public", "GET", "/healthz", 200),
    ("public", "GET", "/readyz", 200),
    ("admin", "GET", "/metrics", 200),
    ("admin", "GET", "/explain?country=us&lang=eng&hour=3", 200),
    ("admin", "GET", "/explain?country=us&lang=eng&hour=99", 400),
    ("admin", "GET", "/stats", 200),
    ("admin", "GET", "/stats?day={today}&ad=59d4fb16", 200),
    ("admin", "GET", "/stats?day={today}&format=csv", 200),
    ("admin", "GET", "/stats?day=2026-13-45", 400, "names:day"),
    ("admin", "GET", "/stats?format=xml", 400, "names:format"),
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


def local(tag):
    return tag.rsplit("}", 1)[-1]


def vast_problems(body, want_ad, tracked):
    """What the VAST answer lacks of the documented shape (an empty list if nothing)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        return [f"not XML: {error}"]
    problems = []
    if local(root.tag) != "VAST":
        problems.append(f"root is {local(root.tag)}, not VAST")
    try:
        if tuple(int(x) for x in root.get("version", "0").split(".")[:2]) < (4, 2):
            problems.append(f"VAST version {root.get('version')} is below 4.2")
    except ValueError:
        problems.append(f"VAST version {root.get('version')!r} is not a number")
    ads = [e for e in root if local(e.tag) == "Ad"]
    if not want_ad:
        return problems + ([f"{len(ads)} Ad elements, expected none"] if ads else [])
    if len(ads) != 1:
        return problems + [f"{len(ads)} Ad elements, expected one"]
    names = [local(e.tag) for e in ads[0].iter()]
    required = ["InLine", "AdSystem", "AdTitle", "Creative", "Linear",
                "UniversalAdId", "Duration", "MediaFiles", "MediaFile"]
    if tracked:
        required += ["Impression", "AdServingId", "Error", "TrackingEvents"]
    problems += [f"no {name}" for name in required if name not in names]
    media = [e for e in ads[0].iter() if local(e.tag) == "MediaFile"]
    for attribute in ["delivery", "type", "width", "height"]:
        if media and not media[0].get(attribute):
            problems.append(f"MediaFile without {attribute}")
    events = {e.get("event") for e in ads[0].iter() if local(e.tag) == "Tracking"}
    if tracked:
        missing = {"start", "firstQuartile", "midpoint", "thirdQuartile", "complete", "skip"} - events
        problems += [f"no Tracking event={name}" for name in sorted(missing)]
        errors = [e.text or "" for e in ads[0].iter() if local(e.tag) == "Error"]
        if errors and "[ERRORCODE]" not in errors[0]:
            problems.append("Error URL without the [ERRORCODE] macro")
    else:
        ours = [e for e in ads[0].iter() if "/event?" in (e.text or "")]
        if ours:
            problems.append(f"tracking off, yet {len(ours)} URLs of ours ({local(ours[0].tag)})")
    return problems


def check_body(spec, check, status, body, media):
    """The extra checks of a probe; returns what failed."""
    if not check:
        return []
    schemas = spec["components"]["schemas"]
    root = {"components": spec["components"]}
    if check in ("tracked", "untracked"):
        schema = schemas["TrackedAd" if check == "tracked" else "UntrackedAd"]
        try:
            jsonschema.validate(json.loads(body), {**schema, **root})
        except (ValueError, jsonschema.ValidationError) as error:
            return [f"not a {check} ad answer: {error.message if hasattr(error, 'message') else error}"]
        return []
    if check.startswith("vast"):
        if media != "application/xml":
            return [f"VAST answer with Content-Type {media}"]
        return vast_problems(body, check in ("vast_ad", "vast_untracked"), check != "vast_untracked")
    try:
        document = json.loads(body)
    except ValueError:
        return [f"{check}: body is not JSON"]
    if check.startswith("names:"):
        name = check.split(":", 1)[1]
        message = document.get("message", "")
        if f"`{name}`" not in message and f"'{name}'" not in message and f'"{name}"' not in message \
                and f" {name} " not in f" {message} ":
            return [f"message does not name {name}: {message!r}"]
        return []
    if check == "invalid_event":
        return [] if document.get("error") == "invalid_event" else [f"error is {document.get('error')!r}"]
    return [f"unknown check {check}"]


def documented_response(spec, path, method, status):
    """The response the spec documents, or None."""
    item = spec["paths"].get(path, {})
    if status == 405:
        # An undocumented method gets the path's 405 answer, or the shared one.
        for operation in item.values():
            if "405" in operation.get("responses", {}):
                return resolve(spec, operation["responses"]["405"])
        return spec["components"]["responses"]["MethodNotAllowed"]
    operation = item.get(method.lower())
    if operation is None:
        return None
    return resolve(spec, operation["responses"].get(str(status)))


def check_content(spec, documented, headers, body, method):
    content = documented.get("content")
    if not content or method == "HEAD":
        return None, []
    media = headers.get("Content-Type", headers.get("content-type", "")).split(";")[0].strip()
    if media not in content:
        return media, [f"Content-Type {media}, documented {list(content)}"]
    schema = content[media].get("schema", {})
    if media == "application/json":
        try:
            jsonschema.validate(json.loads(body), {**schema, "components": spec["components"]})
        except (ValueError, jsonschema.ValidationError) as error:
            return media, [f"body does not match the schema: {error}"]
    elif media == "text/csv":
        # The CSV has the counts every row carries (the required ones); a
        # capped ad's `cap` and `remaining` are JSON only (README "Budgets").
        columns = list(spec["components"]["schemas"]["StatsRow"]["required"])
        rows = list(csv.reader(io.StringIO(body.decode())))
        if not rows or rows[0] != columns:
            return media, [f"CSV header {rows[:1]}, documented {columns}"]
        bad = [r for r in rows[1:] if len(r) != len(columns) or not all(c.isdigit() for c in r[1:])]
        if bad:
            return media, [f"CSV row {bad[0]} does not fit the columns"]
    return media, []


def event_paths(public):
    """(event, forged): the path and query of a real event_url, and a forgery."""
    status, _, body = send(public, "GET", "/ad_request?country=us&lang=eng")
    if status != 200:
        raise SystemExit(f"no ad answer to take an event_url from (status {status})")
    url = urllib.parse.urlsplit(json.loads(body)["event_url"])
    event = f"{url.path}?{url.query}"
    query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    token = dict(query)["t"]
    # Change one character in the middle, where the MAC or the payload is.
    i = len(token) // 2
    swapped = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1:]
    forged = f"{url.path}?" + urllib.parse.urlencode(
        [(k, swapped if k == "t" else v) for k, v in query], safe="")
    return event, forged


def main():
    public, admin = sys.argv[1], sys.argv[2]
    untracked = sys.argv[3] if len(sys.argv) > 3 else None
    spec = yaml.safe_load(SPEC_PATH.read_text())
    validate(spec)
    event, forged = event_paths(public)
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    probes = list(PROBES)
    if untracked:
        probes += [
            ("untracked", "GET", "/ad_request?country=us&lang=eng", 200, "untracked"),
            ("untracked", "GET", "/ad_request?country=us&lang=eng&format=vast", 200, "vast_untracked"),
        ]
    bases = {"public": public, "admin": admin, "untracked": untracked}
    failures = []
    for probe in probes:
        listener, method, target, expected = probe[:4]
        check = probe[4] if len(probe) > 4 else None
        target = target.format(event=event, forged=forged, today=today)
        status, headers, body = send(bases[listener], method, target)
        where = f"{method} {target[:60]} ({listener})"
        if status != expected:
            failures.append(f"{where}: status {status}, expected {expected}: {body[:120]!r}")
            continue
        documented = documented_response(spec, target.split("?")[0], method, status)
        if documented is None:
            failures.append(f"{where}: status {status} of {method} is not documented")
            continue
        got = {h.lower(): v for h, v in headers.items()}
        for name, header in documented.get("headers", {}).items():
            if name.lower() not in got:
                failures.append(f"{where}: documented header {name} missing")
                continue
            allowed = header.get("schema", {}).get("enum")
            if allowed and got[name.lower()] not in allowed:
                failures.append(f"{where}: {name}: {got[name.lower()]!r}, documented {allowed}")
        media, problems = check_content(spec, documented, headers, body, method)
        problems += check_body(spec, check, status, body, media)
        failures += [f"{where}: {p}" for p in problems]
    for failure in failures:
        print("FAIL", failure)
    print(f"openapi: {len(probes)} probes, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
