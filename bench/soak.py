#!/usr/bin/env python3
"""Load generator and mail check of bench/soak (standard library only).

Subcommands:
  prepare BASE OUTBOX N SUFFIX USERS_OUT
        register and verify N users (their verification mails count as
        registrations the generator made)
  load BASE1 BASE2 USERS SECONDS THREADS SUFFIX RESULTS_JSON
        mixed traffic at both nodes for SECONDS (register, login, refresh,
        verify-token, password-reset), one request at a time per thread,
        alternating nodes; every request recorded (op, node, status, time)
  report OUTBOX USERS RESULTS_JSON RSS_FILE
        requests by status, p99 latency, RSS, and the mail check: every
        .eml file matches one registration or reset made, none twice
"""

import http.client
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helper  # noqa: E402  (bench/helper.py: register, verify, eml tokens)

PASSWORD = "Soak-Passw0rd-42"
# <UTC time>-<recipient>-<kind>-<random>.eml (README, "Operations").
EML_RE = re.compile(
    r"^\d{8}T\d{6}\.\d{3}Z-(.+)-(verify_email|password_reset|password_changed|"
    r"mfa_enabled|mfa_disabled|backup_code_used|new_device_login|"
    r"refresh_token_reused|account_locked)-[0-9a-zA-Z]+\.eml$"
)
# Alerts to the owner: not answers to a registration or reset. Logins of
# the soak keep no device token, so each account gets new-device alerts,
# at most NEW_DEVICE_PER_HOUR an hour (README, "Security alerts").
ALERTS = {"new_device_login", "refresh_token_reused", "account_locked"}
NEW_DEVICE_PER_HOUR = 5
# Share of each operation in the mix.
MIX = [("verify", 40), ("refresh", 20), ("login", 20), ("register", 10), ("reset", 10)]


def die(msg):
    print(f"soak: {msg}", file=sys.stderr)
    sys.exit(1)


class Node:
    """A node under load. Never retries, so one request is one attempt (a
    retried reset could mean two mails)."""

    def __init__(self, name, base):
        self.name = name
        self.client = helper.Client(base)

    def call(self, method, path, body=None, token=None):
        """(status or 'refused' / 'conn-error', parsed body or None)."""
        try:
            status, doc, _ = self.client.call(method, path, body, token, attempts=1)
        except ConnectionRefusedError:
            return "refused", None
        except (http.client.HTTPException, OSError):
            return "conn-error", None
        return status, doc


def cmd_prepare(base, outbox, n, suffix, out):
    helper.cmd_register(base, n, suffix, out)
    helper.cmd_verify(base, outbox, out, 300)


def tokens(doc):
    d = (doc or {}).get("data") or {}
    return d.get("token"), d.get("refresh_token")


def worker(tid, nodes, users, deadline, suffix, out, lock):
    rng = random.Random(tid)
    ops = [op for op, weight in MIX for _ in range(weight)]
    email, password = users[tid % len(users)]
    access = refresh = None
    records, registered, resets = [], [], []
    n = 0
    while time.monotonic() < deadline:
        node = nodes[n % len(nodes)]
        n += 1
        op = rng.choice(ops)
        if op in ("verify", "refresh") and refresh is None:
            op = "login"
        start = time.monotonic()
        if op == "login":
            status, doc = node.call("POST", "/api/v1/auth/login/",
                                    {"email": email, "password": password})
            if status == 200:
                access, refresh = tokens(doc)
        elif op == "refresh":
            status, doc = node.call("POST", "/api/v1/auth/token/refresh/",
                                    {"refresh_token": refresh})
            if status == 200:
                access, refresh = tokens(doc)
            elif status == 401:
                # The previous answer was lost (a killed node) after the
                # rotation committed: reuse detection ended the session.
                refresh = None
        elif op == "verify":
            status, _ = node.call("GET", "/api/v1/auth/verify-token/", token=access)
            if status == 401:
                refresh = None
        elif op == "register":
            addr = f"soak-{tid}-{n}{suffix}@example.org"
            status, _ = node.call("POST", "/api/v1/auth/register/", {
                "email": addr, "password": PASSWORD,
                "first_name": "Soak", "last_name": "Test"})
            registered.append((addr, node.name, status))
        else:
            target = users[rng.randrange(len(users))][0]
            status, _ = node.call("POST", "/api/v1/auth/password-reset/", {"email": target})
            resets.append((target.lower(), node.name, status))
        records.append((op, node.name, status, time.monotonic() - start, start))
    with lock:
        out["records"].extend(records)
        out["registered"].extend(registered)
        out["resets"].extend(resets)


def cmd_load(base1, base2, users_file, seconds, threads, suffix, results):
    users = helper.read_users(users_file)
    nodes = [Node("node1", base1), Node("node2", base2)]
    deadline = time.monotonic() + float(seconds)
    out = {"records": [], "registered": [], "resets": [], "started": time.time(),
           "duration": float(seconds)}
    lock = threading.Lock()
    ts = [threading.Thread(target=worker, args=(t, nodes, users, deadline, suffix, out, lock))
          for t in range(int(threads))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    with open(results, "w") as f:
        json.dump(out, f)


def p99(values):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def mails(outbox):
    found = Counter()
    other = []
    for name in os.listdir(outbox) if os.path.isdir(outbox) else []:
        if not name.endswith(".eml"):
            continue
        m = EML_RE.match(name)
        if m:
            found[(m.group(1).lower(), m.group(2))] += 1
        else:
            other.append(name)
    return found, other


def cmd_report(outbox, users_file, results, rss_file):
    with open(results) as f:
        r = json.load(f)
    records = r["records"]
    print(f"requests: {len(records)}")
    by_status = Counter((rec[1], str(rec[2])) for rec in records)
    for (node, status), count in sorted(by_status.items()):
        print(f"  {node} {status}: {count}")
    by_op = defaultdict(list)
    for op, _, status, took, _ in records:
        if isinstance(status, int):
            by_op[op].append(took)
    everything = [t for v in by_op.values() for t in v]
    print(f"p99 (answered requests): all {p99(everything) * 1000:.1f} ms")
    for op, v in sorted(by_op.items()):
        print(f"  {op}: n={len(v)} p99 {p99(v) * 1000:.1f} ms, "
              f"median {sorted(v)[len(v) // 2] * 1000:.1f} ms")
    with open(rss_file) as f:
        print("RSS:")
        for line in f:
            print(f"  {line.rstrip()}")

    # The mail check.
    made = Counter()
    for addr, _ in helper.read_users(users_file):
        made[(addr.lower(), "verify_email")] += 1
    must = Counter()
    for addr, node, status in r["registered"]:
        if status != "refused":
            made[(addr.lower(), "verify_email")] += 1
        if status == 201:
            must[(addr.lower(), "verify_email")] += 1
    lost_with_node = 0
    for addr, node, status in r["resets"]:
        if status != "refused":
            made[(addr, "password_reset")] += 1
        # A reset queues its mail after answering: a node killed right
        # after a 200 may take it along (counted, not a failure).
        if status == 200 and node == "node1":
            must[(addr, "password_reset")] += 1
    found, other = mails(outbox)
    problems = []
    hours = max(1, -(-int(r.get("duration", 3600)) // 3600))
    for key, count in found.items():
        if key[1] == "new_device_login" and count > NEW_DEVICE_PER_HOUR * (hours + 1):
            problems.append(f"{key}: {count} new-device alerts in {hours} h")
        if key[1] in ALERTS:
            continue
        if count > made[key]:
            problems.append(f"{key}: {count} mails for {made[key]} requests made")
    for key, count in must.items():
        if found[key] < count:
            problems.append(f"{key}: {found[key]} mails for {count} answered requests")
    node2_resets = Counter((a, "password_reset") for a, n, s in r["resets"]
                           if s == 200 and n == "node2")
    for key, count in node2_resets.items():
        lost_with_node += max(0, min(count, count + must[key] - found[key]))
    for name in other:
        problems.append(f"unexpected mail file {name}")
    alerts = sum(c for (_, kind), c in found.items() if kind in ALERTS)
    total = sum(found.values()) - alerts
    print(f"mails: {total} ({found_kinds(found)}); requests that could mail: "
          f"{sum(made.values())}; answered 201/200 that must mail: {sum(must.values())}")
    print(f"node2 resets answered 200 whose mail never came: {lost_with_node}")
    print(f"alerts to owners (not counted above): {alerts}")
    if problems:
        for p in problems[:20]:
            print(f"  MAIL PROBLEM: {p}")
        die(f"{len(problems)} mail problems")
    print("mail check: every mail matches a registration or reset made, none twice; "
          "every 201 registration and every node1 200 reset has its mail")


def found_kinds(found):
    kinds = Counter()
    for (_, kind), count in found.items():
        kinds[kind] += count
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))


def main(argv):
    if len(argv) < 2:
        die(__doc__)
    table = {"prepare": cmd_prepare, "load": cmd_load, "report": cmd_report}
    cmd, args = argv[1], argv[2:]
    if cmd not in table:
        die(f"unknown subcommand {cmd}\n{__doc__}")
    table[cmd](*args)


if __name__ == "__main__":
    main(sys.argv)
