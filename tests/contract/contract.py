#!/usr/bin/python3
"""contract.py -- checks a live profiled against docs/openapi.yaml.

Loads the document, runs every case of cases.py (a table of requests, each
naming its operation and the status it expects) against the servers run.sh
started, and checks each answer against the document: the status is the
expected one and is documented for the operation, the Content-Type is a
documented media type (JSON ones with charset=utf-8), every required header of
that response is present, every documented header present matches its schema,
no rate-limit / Retry-After / ETag / CORS field appears that the response does
not document, and the body validates against the response's JSON Schema
(Draft 2020-12, $refs resolved in the document).

It fails when a case fails, and when the table falls behind the document: an
operation without a case, or a documented status of an operation without a
case (range keys such as 5XX excepted: see UNPROVOKED). Cases marked
`pending` (a change another branch makes: the spec's edges, the /docs route)
are counted for coverage but skipped, with a note.
usage: contract.py --doc FILE --tokens FILE --main URL --tight URL --nohist URL --tight-pid PID
"""
import argparse
import gzip
import http.client
import json
import os
import re
import signal
import sys
import time
import urllib.parse
import warnings

import yaml

warnings.filterwarnings("ignore", category=DeprecationWarning)
import jsonschema  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as case_table  # noqa: E402

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# header names whose presence the document must account for
WATCHED = re.compile(r"^(ratelimit|ratelimit-policy|x-ratelimit-.*|retry-after|etag|access-control-.*)$")
UNPROVOKED = {
    "5XX": "server-side failures (500 a fault, 503 full queues or a damaged database, 504 a job past "
    "--job-timeout-ms) are not provoked from outside; tests/http/test_integrity.c and test_hardening_*.c "
    "cover them, and any 5XX seen here is still checked against the document",
}


class Doc:
    """The document, its operations and a $ref resolver."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.raw = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.raw)
        self.ops = {}
        for p, item in self.raw["paths"].items():
            shared = item.get("parameters", [])
            for m in METHODS:
                if m in item:
                    op = item[m]
                    self.ops[op["operationId"]] = {
                        "path": p,
                        "method": m.upper(),
                        "op": op,
                        "params": [self.deref(x) for x in shared + op.get("parameters", [])],
                    }

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
            seen += 1
            if seen > 20:
                raise ValueError("$ref loop")
        return node

    def validator(self, schema):
        return jsonschema.Draft202012Validator(schema, resolver=self.resolver)


class Result:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased name -> list of values
        self.body = body

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class Client:
    def __init__(self, servers, tokens):
        self.servers = servers
        self.tokens = tokens
        self.conns = {}

    def send(self, server, method, target, headers, body):
        url = urllib.parse.urlsplit(self.servers[server])
        for attempt in (0, 1):
            conn = self.conns.get(server)
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                self.conns[server] = conn
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in headers.items():
                    conn.putheader(k, v)
                if body is not None:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders()
                if body is not None:
                    try:
                        conn.send(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server answered before taking the whole body (a 413): read that answer
                r = conn.getresponse()
                data = r.read()
                hdrs = {}
                for k, v in r.getheaders():
                    hdrs.setdefault(k.lower(), []).append(v)
                if r.getheader("connection", "").lower() == "close" or r.will_close:
                    conn.close()
                    self.conns.pop(server, None)
                return Result(r.status, hdrs, data)
            except (ConnectionError, http.client.HTTPException, BrokenPipeError):
                conn.close()
                self.conns.pop(server, None)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def coerce(value, schema):
    """A header's text as the type its schema names."""
    t = schema.get("type")
    if t == "integer" or (schema.get("const") is not None and isinstance(schema["const"], int)):
        try:
            return int(value)
        except ValueError:
            return value
    return value


def media_match(ctype, documented):
    """The documented media type of the answer's Content-Type, or None."""
    base = ctype.split(";")[0].strip().lower()
    params = sorted(p.strip().lower() for p in ctype.split(";")[1:] if p.strip())
    for d in documented:
        dbase = d.split(";")[0].strip().lower()
        dparams = sorted(p.strip().lower() for p in d.split(";")[1:] if p.strip())
        if dbase == base and all(p in params for p in dparams):
            return d
    return None


def check(doc, opid, case, res):
    """The problems of one answer, as a list of strings."""
    problems = []
    op = doc.ops[opid]["op"]
    responses = op["responses"]
    key = str(res.status)
    if res.status != case["status"]:
        problems.append("status %d, expected %d" % (res.status, case["status"]))
    if key not in responses:
        key = "%dXX" % (res.status // 100)
        if key not in responses:
            problems.append("status %d is not documented for %s" % (res.status, opid))
            return problems
    resp = doc.deref(responses[key])
    # headers
    documented = {}
    for name, h in (resp.get("headers") or {}).items():
        documented[name.lower()] = doc.deref(h)
    if not res.header("x-amzn-requestid"):
        problems.append("no x-amzn-RequestId")
    for name, h in documented.items():
        v = res.header(name)
        if v is None:
            if h.get("required"):
                problems.append("required header %s missing" % name)
            continue
        schema = h.get("schema", {})
        errs = [e.message for e in doc.validator(schema).iter_errors(coerce(v, schema))]
        if errs:
            problems.append("header %s=%r: %s" % (name, v, "; ".join(errs)))
    for name in res.headers:
        if WATCHED.match(name) and name not in documented:
            problems.append("header %s is not documented for %s %s" % (name, opid, key))
    for name in case.get("expect_headers", []):
        if res.header(name) is None:
            problems.append("header %s expected by the case is missing" % name)
    for name in case.get("absent_headers", []):
        if res.header(name) is not None:
            problems.append("header %s must be absent here" % name)
    # body
    content = resp.get("content")
    ctype = res.header("content-type")
    if not content:
        if res.body:
            problems.append("a body (%d bytes) where the document has none" % len(res.body))
        if ctype:
            problems.append("a Content-Type where the document has no content")
        return problems
    if ctype is None:
        problems.append("no Content-Type")
        return problems
    media = media_match(ctype, content.keys())
    if media is None:
        problems.append("Content-Type %r is not one of %s" % (ctype, sorted(content.keys())))
        return problems
    if res.header("content-encoding"):
        body = gzip.decompress(res.body)
    else:
        body = res.body
    schema = content[media].get("schema")
    if media.split(";")[0].strip() == "application/json":
        if "charset=utf-8" not in ctype.replace(" ", "").lower():
            problems.append("JSON Content-Type without charset=utf-8: %r" % ctype)
        try:
            value = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            problems.append("body is not UTF-8 JSON: %s" % e)
            return problems
        if schema is not None:
            v = doc.validator(schema)
            errs = sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))
            for e in errs[:5]:
                where = "/".join(str(x) for x in e.absolute_path)
                problems.append("body%s: %s" % (" at " + where if where else "", e.message[:300]))
                for sub in (e.context or [])[:4]:
                    problems.append("  (%s: %s)" % ("/".join(str(x) for x in sub.absolute_path), sub.message[:200]))
        if case.get("schema"):
            ref = {"$ref": "#/components/schemas/" + case["schema"]}
            for e in list(doc.validator(ref).iter_errors(value))[:5]:
                problems.append("body is not a %s: %s" % (case["schema"], e.message[:300]))
        res.value = value
    else:
        res.value = body
        if schema is not None and schema.get("type") == "string":
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                problems.append("text body is not UTF-8")
    return problems


def target(doc, opid, case):
    o = doc.ops[opid]
    params = dict(case_table.DEFAULT_PATH)
    params.update(case.get("path", {}))
    path = o["path"]
    for name in re.findall(r"\{([^}]+)\}", path):
        path = path.replace("{%s}" % name, urllib.parse.quote(str(params[name]), safe=":@+,%"))
    q = case.get("query")
    if isinstance(q, str):
        path += "?" + q
    elif q:
        path += "?" + urllib.parse.urlencode(q, safe=",:")
    return path


def run_case(doc, client, ctx, case):
    opid = case["op"]
    o = doc.ops[opid]
    headers = {}
    tok = case.get("token", "full")
    if tok is not None and case.get("auth", "header") == "header":
        headers["auth-token"] = client.tokens.get(tok, tok)
    elif tok is not None and case.get("auth") == "basic":
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode((client.tokens[tok] + ":").encode()).decode()
    headers.update(case.get("headers", {}))
    body = case.get("body")
    if callable(body):
        body = body(ctx, client)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    if case.get("gzip") and body is not None:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if "setup" in case:
        case["setup"](ctx, client, headers)
    if callable(case.get("query")):
        case = dict(case, query=case["query"](ctx, client))
    method = case.get("method", o["method"])
    path = target(doc, opid, case)
    server = case.get("server", "main")
    tries = case.get("until", 1)
    if case.get("etag_first"):
        first = client.send(server, method, path, headers, body)
        tag = first.header("etag")
        if tag is None:
            return first, ["no ETag on the 200 the conditional request needs"]
        headers = dict(headers, **{"If-None-Match": case["etag_first"].replace("TAG", tag)})
        ctx["etag"] = tag
    for i in range(tries):
        if i > 0:
            time.sleep(0.02)  # a retry's pause, not an assertion: the loop ends on the status
        res = client.send(server, method, path, headers, body)
        if res.status == case["status"]:
            break
    problems = check(doc, opid, case, res)
    if not problems and "then" in case:
        try:
            case["then"](ctx, res)
        except AssertionError as e:
            problems.append("case check: %s" % e)
    return res, problems


def coverage(doc, cases):
    """Operations and documented statuses without a case."""
    have = {}
    for c in cases:
        have.setdefault(c["op"], set()).add(str(c["status"]))
    missing = []
    for opid, o in doc.ops.items():
        if opid not in have:
            missing.append("operation %s (%s %s) has no case" % (opid, o["method"], o["path"]))
            continue
        for key in o["op"]["responses"]:
            if key in UNPROVOKED or key == "default":
                continue
            if key not in have[opid]:
                missing.append("operation %s: documented status %s has no case" % (opid, key))
    for c in cases:
        if c["op"] not in doc.ops:
            missing.append("case %r names operation %s, which the document does not have" % (c["name"], c["op"]))
    return missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--doc", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--main", required=True)
    ap.add_argument("--tight", required=True)
    ap.add_argument("--nohist", required=True, help="a server with --trait-history-days 0")
    ap.add_argument("--tight-pid", type=int, required=True)
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--run-pending", action="append", default=[], metavar="WHY",
                    help="run the cases pending WHY (edge, docs) too: for the branch that makes that change")
    a = ap.parse_args()
    doc = Doc(a.doc)
    tokens = dict(line.strip().split("=", 1) for line in open(a.tokens) if "=" in line)
    client = Client({"main": a.main, "nohist": a.nohist, "tight": a.tight, "drain": a.tight}, tokens)
    ctx = {"doc_path": a.doc, "tight_pid": a.tight_pid}
    cases = case_table.build(doc)
    names = [c["name"] for c in cases]
    dup = sorted({n for n in names if names.count(n) > 1})
    failures = ["duplicate case names: %s" % ", ".join(dup)] if dup else []
    failures += coverage(doc, cases)
    order = {"main": 0, "nohist": 1, "tight": 2, "drain": 3}
    ran = skipped = 0
    pending = {}
    for c in sorted(cases, key=lambda c: order[c.get("server", "main")]):
        if a.only and a.only not in c["name"]:
            continue
        if c.get("pending") and c["pending"] not in a.run_pending:
            pending.setdefault(c["pending"], []).append(c["name"])
            skipped += 1
            continue
        if c.get("server") == "drain" and not ctx.get("drained"):
            os.kill(a.tight_pid, signal.SIGTERM)
            ctx["drained"] = True
            time.sleep(0.2)  # not an assertion: the case below retries until the listener says 503
        ran += 1
        try:
            _, problems = run_case(doc, client, ctx, c)
        except Exception as e:  # a crash of the runner or the connection is a failure of the case
            problems = ["%s: %s" % (type(e).__name__, e)]
        if problems:
            failures.append("%s [%s %d]:\n    %s" % (c["name"], c["op"], c["status"], "\n    ".join(problems)))
    for why, names in sorted(pending.items()):
        print("contract: %d case(s) pending %s (skipped until that change is merged):" % (len(names), why))
        for n in names:
            print("    %s" % n)
    for key, why in UNPROVOKED.items():
        print("contract: %s responses have no case: %s" % (key, why))
    print("contract: %d operations, %d cases run, %d pending, %d problem(s)" % (len(doc.ops), ran, skipped, len(failures)))
    if failures:
        for f in failures:
            print("FAIL " + f, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
