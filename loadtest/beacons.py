#!/usr/bin/env python3
"""The load client of loadtest/fleet.sh: asks for ads and fires their beacons.

    python3 loadtest/beacons.py BASE_URL OUT.json [--seconds S] [--max-answers N]
                                [--threads T] [--vast-share F] [--beacons LIST]

Each thread keeps one keep-alive connection (http.client) and loops: ask
BASE_URL/ad_request for one of a few (country, lang) pairs, a share of them
with format=vast. For every ad answer (a 200 that names an ad) it fires the
answer's beacons in player order: impression, start, firstQuartile,
midpoint, thirdQuartile, complete (or only those --beacons names, e.g.
`impression` for the budgets run). A JSON answer's beacon is
`event_url + "&e=NAME"`; a VAST answer's are its <Impression> and
<Tracking event="NAME"> URLs. A beacon is retried on a connection error or
a balancer 502/503/504 until it gets 204 (at most --beacon-tries times):
the server counts each (serving id, event) once, so a retry after a lost
answer cannot count twice.

It counts per ad id how many ad answers it got and how many of each beacon
got a 204, and writes those totals with everything that went wrong to
OUT.json. An ad request that fails on the connection is NOT retried (the
server may have counted it) but counted as `lost_requests`, so a
difference between the server's `served` and the client's answers can be
traced. Bounded twice: no new ad request after --seconds, none after
--max-answers answers; the beacons of answers already received are still
fired, each at most --beacon-tries times. Python 3 standard library only.
"""

import argparse
import datetime
import http.client
import json
import random
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

BEACONS = ["impression", "start", "firstQuartile", "midpoint", "thirdQuartile", "complete"]

# (country, lang) pairs of the sample feed; a pair with no ad answers 404,
# which the server must not count as served.
PAIRS = [
    ("us", "eng"), ("ca", "fre"), ("gb", "eng"), ("de", "ger"),
    ("br", "por"), ("jp", "jpn"), ("us", "spa"), ("zz", "eng"),
]

# A balancer answer that means "no replica took it": safe to send again.
RETRY_STATUSES = {502, 503, 504}


class Totals:
    """What all threads saw, behind one lock (the client is not the bottleneck)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.answers = Counter()  # ad id -> ad answers received
        self.events = defaultdict(Counter)  # ad id -> beacon name -> 204s
        self.statuses = Counter()  # ad request status -> count
        self.lost_requests = 0  # ad requests that failed on the connection
        self.no_ad = 0  # 404, or a VAST document with no Ad
        self.vast_answers = 0
        self.beacon_retries = 0
        self.beacon_failures = Counter()  # "name status" -> beacons never 204
        self.malformed = Counter()  # answers the client could not read

    def to_json(self):
        return {
            "answers": dict(self.answers),
            "events": {ad: dict(c) for ad, c in self.events.items()},
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "lost_requests": self.lost_requests,
            "no_ad": self.no_ad,
            "vast_answers": self.vast_answers,
            "beacon_retries": self.beacon_retries,
            "beacon_failures": dict(self.beacon_failures),
            "malformed": dict(self.malformed),
        }


class Connections:
    """One keep-alive connection per host:port, per thread."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.open = {}

    def get(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"not an http URL: {url}")
        target = parts.path + ("?" + parts.query if parts.query else "")
        conn = self.open.get(parts.netloc)
        if conn is None:
            conn = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
            self.open[parts.netloc] = conn
        try:
            conn.request("GET", target)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            # The next request opens a fresh connection.
            conn.close()
            del self.open[parts.netloc]
            raise
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            del self.open[parts.netloc]
        return response.status, response.getheader("Content-Type", ""), body


def local(tag):
    """An element's name without its XML namespace."""
    return tag.rsplit("}", 1)[-1]


def read_vast(body):
    """(ad id, {beacon: url}) of a VAST document, or None when it holds no Ad."""
    root = ET.fromstring(body)
    ads = [e for e in root.iter() if local(e.tag) == "Ad"]
    if not ads:
        return None
    ad = ads[0]
    ad_id = ad.get("id")
    urls = {}
    for e in ad.iter():
        name = local(e.tag)
        text = (e.text or "").strip()
        if name == "UniversalAdId" and not ad_id:
            ad_id = text
        elif name == "Impression" and text and "impression" not in urls:
            urls["impression"] = text
        elif name == "Tracking" and e.get("event") in BEACONS and text:
            urls.setdefault(e.get("event"), text)
    missing = [b for b in BEACONS if b not in urls]
    if not ad_id or missing:
        raise ValueError(f"VAST ad {ad_id!r} lacks {missing or 'an id'}")
    return ad_id, urls


def fire(conns, url, totals, ad_id, name, tries):
    """Sends one beacon until it gets 204, at most `tries` times."""
    status = "connection"
    for attempt in range(tries):
        if attempt:
            with totals.lock:
                totals.beacon_retries += 1
            time.sleep(min(0.05 * attempt, 0.5))
        try:
            status, _, _ = conns.get(url)
        except (OSError, http.client.HTTPException):
            status = "connection"
            continue
        if status == 204:
            with totals.lock:
                totals.events[ad_id][name] += 1
            return
        if status not in RETRY_STATUSES:
            break
    with totals.lock:
        totals.beacon_failures[f"{name} {status}"] += 1


def worker(args, totals, stop_at, budget, seed):
    rng = random.Random(seed)
    conns = Connections(args.timeout)
    base = args.base.rstrip("/")
    while time.monotonic() < stop_at:
        with totals.lock:
            if budget[0] <= 0:
                return
        country, lang = rng.choice(PAIRS)
        vast = rng.random() < args.vast_share
        url = f"{base}/ad_request?country={country}&lang={lang}" + ("&format=vast" if vast else "")
        try:
            status, ctype, body = conns.get(url)
        except (OSError, http.client.HTTPException):
            with totals.lock:
                totals.lost_requests += 1
            continue
        with totals.lock:
            totals.statuses[status] += 1
        if status == 404:
            with totals.lock:
                totals.no_ad += 1
            continue
        if status != 200:
            continue
        try:
            if vast:
                found = read_vast(body)
                if found is None:
                    with totals.lock:
                        totals.no_ad += 1
                    continue
                ad_id, urls = found
            else:
                answer = json.loads(body)
                ad_id = answer["id"]
                urls = {b: answer["event_url"] + "&e=" + b for b in BEACONS}
        except (ValueError, KeyError, ET.ParseError) as error:
            with totals.lock:
                totals.malformed[f"{'vast' if vast else 'json'}: {error}"[:200]] += 1
            continue
        with totals.lock:
            totals.answers[ad_id] += 1
            totals.vast_answers += vast
            budget[0] -= 1
        for name in args.beacons:
            fire(conns, urls[name], totals, ad_id, name, args.beacon_tries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the balancer, http://127.0.0.1:PORT")
    parser.add_argument("out", help="where the totals go (JSON)")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-answers", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--vast-share", type=float, default=0.2)
    parser.add_argument("--beacon-tries", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=5)
    parser.add_argument("--beacons", default=",".join(BEACONS),
                        help="comma-separated beacons to fire per answer, in player order")
    args = parser.parse_args()
    args.beacons = [b for b in BEACONS if b in args.beacons.split(",")]

    totals = Totals()
    budget = [args.max_answers]
    started = time.monotonic()
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    stop_at = started + args.seconds
    threads = [
        threading.Thread(target=worker, args=(args, totals, stop_at, budget, i), daemon=True)
        for i in range(args.threads)
    ]
    for t in threads:
        t.start()
    # Each thread stops asking at stop_at; the beacons of its last answer
    # take at most beacon_tries × (timeout + 0.5 s) more.
    hard_stop = stop_at + args.beacon_tries * (args.timeout + 0.5) + 5
    for t in threads:
        t.join(max(0, hard_stop - time.monotonic()))
    stuck = sum(t.is_alive() for t in threads)

    result = totals.to_json()
    result["days"] = sorted({day, datetime.datetime.now(datetime.timezone.utc).date().isoformat()})
    result["seconds"] = round(time.monotonic() - started, 1)
    result["stuck_threads"] = stuck
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
    answers = sum(totals.answers.values())
    print(
        f"client: {answers} ad answers ({totals.vast_answers} VAST), {totals.no_ad} no-ad, "
        f"{totals.lost_requests} lost, {totals.beacon_retries} beacon retries, "
        f"{sum(totals.beacon_failures.values())} beacons never acknowledged, "
        f"{result['seconds']} s"
    )
    return 1 if stuck else 0


if __name__ == "__main__":
    sys.exit(main())
