"""cases.py -- the contract test's table: requests for every operation of
docs/openapi.yaml and the status each must get (contract.py checks the rest
against the document). A case is a dict:

  name     unique, printed on failure
  op       the operationId
  status   the status the request must get (and the document must list)
  path     path parameters over DEFAULT_PATH; query: dict, raw string, or
           callable(ctx, client) giving one
  token    a name from run.sh's tokens file (full, read, ingest, account,
           other), a literal token, or None for no credential; auth:
           "header" (auth-token, default) or "basic"
  headers, body (dict/list -> JSON, str, bytes, callable), gzip
  server   "main" (default), "tight" (burst 1: the second request is 429),
           "drain" (the tight server after SIGTERM) or "nohist" (no trait
           history: --trait-history-days 0)
  until    send up to this many times until the status comes (429, drain)
  etag_first  send once, then again with If-None-Match (TAG = the ETag)
  expect_headers / absent_headers, then(ctx, res): extra checks
  pending  skip for now, naming the change it waits for (contract.py
           --run-pending WHY runs them: for the branch making that change)
"""
import json

import yaml

DEFAULT_PATH = {
    "clientId": "intilery",
    "accountId": "marketing",
    "brandId": "MARKETING",
    "profileId": "userId:joe.bloggs",
    "endpoint": "traits",
}
OTHER_TENANT = {"clientId": "other", "accountId": "acct", "brandId": "OTHER"}
JOE_EMAIL = "email:joe.bloggs@intilery.com"
BIG = b'{"batch":[' + b'{"type":"track","userId":"big","event":"x"},' * 25000 + b"]}"  # about 1.1 MB
HUGE = b"x" * (17 * 1024 * 1024)  # past h2o's own cap (16 x --max-body)


def _eq(want):
    def then(ctx, res):
        assert res.value == want, "body %r, expected %r" % (res.value, want)

    return then


def _joe(ctx, res):
    v = res.value
    assert v.get("externalId") == "joe.bloggs", "externalId %r" % v.get("externalId")


def _nonempty_data(ctx, res):
    assert len(res.value["data"]) > 0, "empty data"


def _etag_same(ctx, res):
    assert res.header("etag") == ctx["etag"], "304 ETag %r, the 200's %r" % (res.header("etag"), ctx["etag"])


def _scroll(limit):
    def q(ctx, client):
        r = client.send("main", "GET", "/track/intilery/marketing/MARKETING/v1/profiles/userId:joe.bloggs/events?limit=%d" % limit,
                        {"auth-token": client.tokens["full"]}, None)
        assert r.status == 200, "first page: %d" % r.status
        return {"scrollId": r.json()["scrollId"]}

    return q


def _scroll_end(ctx, client):
    """The scrollId whose next page is the empty one."""
    h = {"auth-token": client.tokens["full"]}
    base = "/track/intilery/marketing/MARKETING/v1/profiles/userId:joe.bloggs/events"
    sid = client.send("main", "GET", base + "?limit=100", h, None).json()["scrollId"]
    return {"scrollId": sid}  # the demo profile has fewer than 100 events: the next page is empty


def _then_empty(ctx, res):
    assert res.value["data"] == [], "data %r, expected the empty end page" % res.value["data"][:1]


def _make_profile(uid):
    def setup(ctx, client, headers):
        r = client.send("main", "POST", "/v1/identify", {"auth-token": client.tokens["full"]},
                        json.dumps({"userId": uid, "traits": {"plan": "erase-me"}}).encode())
        assert r.status == 200, "identify for the erasure case: %d" % r.status

    return setup


def _same_document(ctx, res):
    with open(ctx["doc_path"], encoding="utf-8") as f:
        want = yaml.safe_load(f)
    assert res.value == want, "/openapi.json is not docs/openapi.yaml"


# operation -> the full answer's schema (a case without `fields` must match
# it, not only the looser selection the response also allows), and whether
# it takes `fields`
VIEWS = {"getTraits": ("Traits", True), "getMetadata": ("Metadata", True), "getMeta": ("Metadata", True),
         "getAudiences": ("AudiencesView", True), "getExternalIds": ("ExternalIds", False)}


# the demo's trait history: user-000005's phone changed twice (joe.bloggs's
# traits once each, all by one identify)
U5 = {"profileId": "userId:user-000005"}
PHONE_NEW = {"value": "+447057844172", "time": "2020-11-16T14:18:50.044Z", "messageId": "e676f288-6c22-4910-8e83-581c9d4965df"}
PHONE_OLD = {"value": "+447637331481", "time": "2020-11-07T14:47:57.913Z", "messageId": "c87b5307-b784-412a-8e31-172fa9f73338"}
JOE_IDENTIFY = "76529299-48a1-4734-b387-1bb353eef752"
HISTORY = "/track/intilery/marketing/MARKETING/v1/profiles/%s/traits/history?%s"


def _member(key, want):
    def then(ctx, res):
        assert res.value.get(key) == want, "%s %r, expected %r" % (key, res.value.get(key), want)

    return then


def _no_computed(also=None):
    def then(ctx, res):
        assert "computed" not in res.value, "computed under at: %r" % res.value.get("computed")
        if also:
            also(ctx, res)

    return then


def _keys(want):
    def then(ctx, res):
        assert sorted(res.value) == sorted(want), "members %r, expected %r" % (sorted(res.value), sorted(want))

    return then


def _changes(*want):
    def then(ctx, res):
        assert res.value["data"] == list(want), "data %r, expected %r" % (res.value["data"], list(want))

    return then


def _history_scroll(query, extra=None):
    """The scrollId of the first page of user-000005's history with query (the next page's request)."""

    def q(ctx, client):
        r = client.send("main", "GET", HISTORY % ("userId:user-000005", query), {"auth-token": client.tokens["full"]}, None)
        assert r.status == 200, "first page: %d" % r.status
        return dict(extra or {}, scrollId=r.json()["scrollId"])

    return q


def _events_scroll(ctx, client):
    r = client.send("main", "GET", "/track/intilery/marketing/MARKETING/v1/profiles/userId:joe.bloggs/events?limit=1",
                    {"auth-token": client.tokens["full"]}, None)
    assert r.status == 200, "events first page: %d" % r.status
    return {"scrollId": r.json()["scrollId"]}


def _verbose_first_name(ctx, res):
    want = {"value": "Joe", "updatedTime": "2020-10-01T09:00:00.000Z", "messageId": JOE_IDENTIFY, "source": "SEGMENT_API"}
    assert res.value.get("firstName") == want, "firstName %r, expected %r" % (res.value.get("firstName"), want)
    # the same email arrived again later: the provenance moved to that message
    assert res.value["email"]["updatedTime"] == "2020-11-03T10:01:08.197Z", "email %r" % res.value["email"]
    assert "computed" in res.value, "computed missing under verbose"


def traits_history_view_cases():
    """getTraits' verbose and at (the rest is read_view_cases')."""
    op = "getTraits"
    at_u5 = {"value": "+447637331481", "updatedTime": "2020-11-07T14:47:57.913Z", "messageId": PHONE_OLD["messageId"],
             "source": "SEGMENT_API"}
    return [
        dict(name=op + " verbose", op=op, status=200, query={"verbose": "true"}, schema="TraitsVerbose", then=_verbose_first_name),
        dict(name=op + " verbose=false", op=op, status=200, query={"verbose": "false"}, schema="Traits", then=_member("firstName", "Joe")),
        dict(name=op + " verbose with fields", op=op, status=200, query={"verbose": "true", "fields": "firstName.value,email"},
             then=lambda ctx, res: _member("firstName", {"value": "Joe"})(ctx, res)
             or _keys(["firstName", "email", "id", "externalId"])(ctx, res)),
        dict(name=op + " verbose 304 same tag", op=op, status=304, query={"verbose": "true"}, etag_first="TAG", then=_etag_same),
        dict(name=op + " verbose without history", op=op, status=200, server="nohist", query={"verbose": "true"}, schema="TraitsVerbose"),
        dict(name=op + " at", op=op, status=200, path=U5, query={"at": "2020-11-10T00:00:00Z"}, schema="Traits",
             then=_no_computed(_member("phone", "+447637331481"))),
        dict(name=op + " at is inclusive", op=op, status=200, path=U5, query={"at": "2020-11-16T14:18:50.044Z"},
             then=_no_computed(_member("phone", "+447057844172"))),
        dict(name=op + " at with an offset", op=op, status=200, path=U5, query={"at": "2020-11-16T15:18:50.043+01:00"},
             then=_member("phone", "+447637331481")),
        dict(name=op + " at before any change", op=op, status=200, path=U5, query={"at": "2020-01-01"}, then=_keys(["id", "externalId"])),
        dict(name=op + " at verbose", op=op, status=200, path=U5, query={"at": "2020-11-10", "verbose": "true"}, schema="TraitsVerbose",
             then=_no_computed(_member("phone", at_u5))),
        dict(name=op + " at with fields", op=op, status=200, path=U5, query={"at": "2020-11-10", "fields": "phone,computed"},
             then=_keys(["phone", "id", "externalId"])),
        dict(name=op + " verbose=yes", op=op, status=400, query={"verbose": "yes"}),
        dict(name=op + " verbose=TRUE", op=op, status=400, query={"verbose": "TRUE"}),
        dict(name=op + " at not a time", op=op, status=400, query={"at": "yesterday"}),
        dict(name=op + " at not a time, history off", op=op, status=400, server="nohist", query={"at": "yesterday"}),
        dict(name=op + " at, history off", op=op, status=404, server="nohist", query={"at": "2020-11-10"},
             then=_member("error", {"code": "invalid_request_error",
                                    "message": "Trait history is turned off on this server (--trait-history-days 0)."})),
    ]


def trait_history_cases():
    op = "getTraitHistory"
    off = {"code": "invalid_request_error", "message": "Trait history is turned off on this server (--trait-history-days 0)."}
    return [
        dict(name=op, op=op, status=200, path=U5, query={"trait": "phone"}, then=_changes(PHONE_NEW, PHONE_OLD)),
        dict(name=op + " joe's email", op=op, status=200, query={"trait": "email"},
             then=_changes({"value": "joe.bloggs@intilery.com", "time": "2020-10-01T09:00:00.000Z", "messageId": JOE_IDENTIFY})),
        dict(name=op + " by email", op=op, status=200, path={"profileId": JOE_EMAIL}, query={"trait": "firstName"},
             then=_changes({"value": "Joe", "time": "2020-10-01T09:00:00.000Z", "messageId": JOE_IDENTIFY})),
        dict(name=op + " a JSON value", op=op, status=200, query={"trait": "marketingPreferences"},
             then=lambda ctx, res: None if res.value["data"][0]["value"]["channels"][0] == {"subscribed": True, "channel": "email"}
             else (_ for _ in ()).throw(AssertionError("value %r" % res.value["data"][0]["value"]))),
        dict(name=op + " first page", op=op, status=200, path=U5, query={"trait": "phone", "limit": 1}, then=_changes(PHONE_NEW)),
        dict(name=op + " next page", op=op, status=200, path=U5, query=_history_scroll("trait=phone&limit=1"), then=_changes(PHONE_OLD)),
        dict(name=op + " next page ignores other parameters", op=op, status=200, path=U5,
             query=_history_scroll("trait=phone&limit=1", {"trait": "email", "limit": 100, "start": "2030-01-01"}), then=_changes(PHONE_OLD)),
        dict(name=op + " scroll end", op=op, status=200, path=U5, query=_history_scroll("trait=phone&limit=2"), then=_then_empty),
        dict(name=op + " start is inclusive", op=op, status=200, path=U5, query={"trait": "phone", "start": "2020-11-16T14:18:50.044Z"},
             then=_changes(PHONE_NEW)),
        dict(name=op + " end is exclusive", op=op, status=200, path=U5, query={"trait": "phone", "end": "2020-11-16T14:18:50.044Z"},
             then=_changes(PHONE_OLD)),
        dict(name=op + " start and end dates", op=op, status=200, path=U5, query={"trait": "phone", "start": "2020-11-01", "end": "2020-12-01"},
             then=_changes(PHONE_NEW, PHONE_OLD)),
        dict(name=op + " trait never set", op=op, status=200, query={"trait": "Email"}, then=_then_empty),
        dict(name=op + " no trait", op=op, status=400),
        dict(name=op + " trait empty", op=op, status=400, query={"trait": ""}),
        dict(name=op + " limit 0", op=op, status=400, query={"trait": "email", "limit": 0}),
        dict(name=op + " limit 101", op=op, status=400, query={"trait": "email", "limit": 101}),
        dict(name=op + " start", op=op, status=400, query={"trait": "email", "start": "yesterday"}),
        dict(name=op + " end", op=op, status=400, query={"trait": "email", "end": "2020-13-01"}),
        dict(name=op + " scrollId", op=op, status=400, query={"scrollId": "nope"}),
        dict(name=op + " an events scrollId", op=op, status=400, query=_events_scroll),
        dict(name=op + " bad profile id", op=op, status=400, path={"profileId": "joe"}, query={"trait": "email"}),
        dict(name=op + " no token", op=op, status=401, token=None, query={"trait": "email"}),
        dict(name=op + " bad token", op=op, status=401, token="pd_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             query={"trait": "email"}),
        dict(name=op + " ingest-only token", op=op, status=403, token="ingest", query={"trait": "email"}),
        dict(name=op + " other tenant", op=op, status=403, path=OTHER_TENANT, query={"trait": "email"}),
        dict(name=op + " unknown profile", op=op, status=404, path={"profileId": "userId:nobody-at-all"}, query={"trait": "email"},
             then=_member("error", {"code": "not_found", "message": "Profile was not found."})),
        dict(name=op + " unknown email", op=op, status=404, path={"profileId": "email:nobody@example.com"}, query={"trait": "email"}),
        dict(name=op + " history off", op=op, status=404, server="nohist", query={"trait": "email"}, then=_member("error", off)),
        dict(name=op + " history off, no trait", op=op, status=404, server="nohist", then=_member("error", off)),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3, query={"trait": "email"}),
    ]


def read_view_cases(op, full, has_fields):
    c = [
        dict(name=op + " userId", op=op, status=200, then=_joe),
        dict(name=op + " anonymousId", op=op, status=200, path={"profileId": "anonymousId:anon-000004"}),
        dict(name=op + " user_id alias, Basic auth", op=op, status=200, path={"profileId": "user_id:joe.bloggs"}, auth="basic"),
        dict(name=op + " X-Request-Id echoed", op=op, status=200, headers={"X-Request-Id": "contract-1234"},
             then=lambda ctx, res: (_ for _ in ()).throw(AssertionError("request id %r" % res.header("x-amzn-requestid")))
             if res.header("x-amzn-requestid") != "contract-1234" else None),
        dict(name=op + " gzip answer", op=op, status=200, headers={"Accept-Encoding": "gzip"}),
        dict(name=op + " email page", op=op, status=200, path={"profileId": JOE_EMAIL}),
        dict(name=op + " email from/size", op=op, status=200, path={"profileId": JOE_EMAIL}, query={"from": 0, "size": 1}),
        dict(name=op + " email past the last page", op=op, status=200, path={"profileId": JOE_EMAIL}, query={"from": 5, "size": 100}),
        dict(name=op + " 304 same tag", op=op, status=304, etag_first="TAG", then=_etag_same),
        dict(name=op + " 304 star", op=op, status=304, etag_first="*"),
        dict(name=op + " 200 other tag", op=op, status=200, etag_first='"0000000000000000"'),
        dict(name=op + " bad profile id", op=op, status=400, path={"profileId": "joe"}),
        dict(name=op + " unknown idType", op=op, status=400, path={"profileId": "phone:123"}),
        dict(name=op + " id not UTF-8", op=op, status=400, path={"profileId": "userId:%FF"}),
        dict(name=op + " email size 0", op=op, status=400, path={"profileId": JOE_EMAIL}, query={"size": 0}),
        dict(name=op + " email from too big", op=op, status=400, path={"profileId": JOE_EMAIL}, query={"from": 1000001}),
        dict(name=op + " from on a userId", op=op, status=400, query={"from": 0}),
        dict(name=op + " size on a userId", op=op, status=400, query={"size": 5}),
        dict(name=op + " unknown parameter", op=op, status=400, query={"feilds": "email"}),
        dict(name=op + " query string over h2o's limit", op=op, status=400, query="x=" + "a" * 420000),
        dict(name=op + " no token", op=op, status=401, token=None),
        dict(name=op + " bad token", op=op, status=401, token="pd_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        dict(name=op + " ingest-only token", op=op, status=403, token="ingest"),
        dict(name=op + " other tenant", op=op, status=403, path=OTHER_TENANT),
        dict(name=op + " unknown profile", op=op, status=404, path={"profileId": "userId:nobody-at-all"}),
        dict(name=op + " unknown email", op=op, status=404, path={"profileId": "email:nobody@example.com"}),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3),
    ]
    for x in c:
        if x["status"] == 200:
            x["schema"] = full + "EmailPage" if x.get("path", {}).get("profileId", "").startswith("email:") else full
    if has_fields:
        c += [
            dict(name=op + " fields", op=op, status=200, query={"fields": "firstName,computed.gbp_revenue,marketingPreferences"}),
            dict(name=op + " fields empty", op=op, status=400, query={"fields": ""}),
            dict(name=op + " fields empty segment", op=op, status=400, query={"fields": "a..b"}),
        ]
    else:
        c.append(dict(name=op + " fields not taken", op=op, status=400, query={"fields": "email"}))
    return c


def list_cases():
    op = "listProfiles"
    return [
        dict(name=op, op=op, status=200, then=lambda ctx, res: None),
        dict(name=op + " page", op=op, status=200, query={"from": 1, "size": 5},
             then=lambda ctx, res: None if (res.value["from"], res.value["size"], len(res.value["data"])) == (1, 5, 5)
             else (_ for _ in ()).throw(AssertionError("page %r" % ((res.value["from"], res.value["size"]),)))),
        dict(name=op + " past the end", op=op, status=200, query={"from": 1000, "size": 100}, then=_then_empty),
        dict(name=op + " size 0", op=op, status=400, query={"size": 0}),
        dict(name=op + " size 101", op=op, status=400, query={"size": 101}),
        dict(name=op + " from -1", op=op, status=400, query={"from": -1}),
        dict(name=op + " from 1000001", op=op, status=400, query={"from": 1000001}),
        dict(name=op + " unknown parameter", op=op, status=400, query={"limit": 5}),
        dict(name=op + " no token", op=op, status=401, token=None),
        dict(name=op + " ingest-only token", op=op, status=403, token="ingest"),
        dict(name=op + " other tenant", op=op, status=403, path=OTHER_TENANT),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3),
    ]


def events_cases():
    op = "getEvents"
    return [
        dict(name=op, op=op, status=200, then=_nonempty_data),
        dict(name=op + " all parameters", op=op, status=200,
             query={"include": "email_opened,page,track", "exclude": "Page Viewed", "start": "2020-10-01", "end": "2020-12-01T00:00:00Z",
                    "sort": "asc", "limit": 2}),
        dict(name=op + " start with an offset", op=op, status=200, query={"start": "2020-10-01T21:00:00+01:00"}),
        dict(name=op + " start with a space offset", op=op, status=200, query="start=2020-10-01T21:00:00+01:00"),
        dict(name=op + " email", op=op, status=200, path={"profileId": JOE_EMAIL}, then=_nonempty_data),
        dict(name=op + " scroll", op=op, status=200, query=_scroll(2), then=_nonempty_data),
        dict(name=op + " scroll end", op=op, status=200, query=_scroll_end, then=_then_empty),
        dict(name=op + " a trait history scrollId", op=op, status=400, query=_history_scroll("trait=phone")),
        dict(name=op + " limit 0", op=op, status=400, query={"limit": 0}),
        dict(name=op + " limit 101", op=op, status=400, query={"limit": 101}),
        dict(name=op + " sort", op=op, status=400, query={"sort": "up"}),
        dict(name=op + " start", op=op, status=400, query={"start": "yesterday"}),
        dict(name=op + " scrollId", op=op, status=400, query={"scrollId": "nope"}),
        dict(name=op + " from not taken", op=op, status=400, query={"from": 0}),
        dict(name=op + " unknown parameter", op=op, status=400, query={"limt": 5}),
        dict(name=op + " no token", op=op, status=401, token=None),
        dict(name=op + " ingest-only token", op=op, status=403, token="ingest"),
        dict(name=op + " other tenant", op=op, status=403, path=OTHER_TENANT),
        dict(name=op + " unknown profile", op=op, status=404, path={"profileId": "userId:nobody-at-all"}),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3),
    ]


def batch_cases():
    op = "batchLookup"
    ids = {"ids": ["userId:joe.bloggs", "anonymousId:anon-000004", "userId:nobody", "bad"]}
    return [
        dict(name=op + " traits", op=op, status=200, body=ids),
        dict(name=op + " metadata with fields", op=op, status=200, path={"endpoint": "metadata"}, query={"fields": "email"}, body=ids),
        dict(name=op + " audiences", op=op, status=200, path={"endpoint": "audiences"}, body=ids),
        dict(name=op + " external_ids", op=op, status=200, path={"endpoint": "external_ids"}, body=ids),
        dict(name=op + " an email", op=op, status=200, body={"ids": [JOE_EMAIL]}),
        dict(name=op + " 100 ids", op=op, status=200, body={"ids": ["userId:user-%06d" % i for i in range(100)]}),
        dict(name=op + " not JSON", op=op, status=400, body="ids"),
        dict(name=op + " no ids", op=op, status=400, body={"ids": []}),
        dict(name=op + " 101 ids", op=op, status=400, body={"ids": ["userId:x"] * 101}),
        dict(name=op + " bad fields", op=op, status=400, query={"fields": ""}, body=ids),
        dict(name=op + " unknown parameter", op=op, status=400, query={"size": 5}, body=ids),
        dict(name=op + " no token", op=op, status=401, token=None, body=ids),
        dict(name=op + " ingest-only token", op=op, status=403, token="ingest", body=ids),
        dict(name=op + " unknown endpoint", op=op, status=404, path={"endpoint": "events"}, body=ids),
        dict(name=op + " 1.1 MB body", op=op, status=413, body=BIG),
        dict(name=op + " 17 MiB body", op=op, status=413, body=HUGE),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3, body=ids),
    ]


def delete_cases():
    op = "deleteProfile"
    return [
        dict(name=op, op=op, status=200, path={"profileId": "userId:contract-erase-1"}, setup=_make_profile("contract-erase-1"),
             then=_eq({"success": True})),
        dict(name=op + " email", op=op, status=400, path={"profileId": JOE_EMAIL}),
        dict(name=op + " bad id", op=op, status=400, path={"profileId": "joe"}),
        dict(name=op + " unknown parameter", op=op, status=400, path={"profileId": "userId:nobody-at-all"}, query={"force": 1}),
        dict(name=op + " no token", op=op, status=401, token=None),
        dict(name=op + " read-only token", op=op, status=403, token="read"),
        dict(name=op + " other tenant", op=op, status=403, path=OTHER_TENANT),
        dict(name=op + " unknown", op=op, status=404, path={"profileId": "userId:nobody-at-all"}),
        dict(name=op + " 429", op=op, status=429, server="tight", until=3, path={"profileId": "userId:nobody-at-all"}),
    ]


# kind -> (good message, bad message); "type" is added for the batch form
MESSAGES = {
    "Track": ({"userId": "contract-u1", "event": "Email Opened", "properties": {"campaign_id": "NOV"}}, {"userId": "contract-u1"}),
    "Identify": ({"userId": "contract-u1", "traits": {"plan": "pro"}}, {"traits": {"plan": "pro"}}),
    "Page": ({"anonymousId": "contract-a1", "name": "Home"}, {"anonymousId": "contract-a1", "name": 5}),
    "Screen": ({"userId": "contract-u1", "name": "Basket"}, {"userId": "contract-u1", "timestamp": "yesterday"}),
    "Group": ({"userId": "contract-u1", "groupId": "g1", "traits": {"name": "G"}}, {"userId": "contract-u1"}),
    "Alias": ({"previousId": "contract-a1", "userId": "contract-u1"}, {"userId": "contract-u1"}),
}


def ingest_cases(doc):
    c = []
    for opid, o in doc.ops.items():
        if o["method"] not in ("POST", "OPTIONS") or not ("ngest" in opid or "reflight" in opid):
            continue
        kind = opid.replace("rootIngest", "").replace("ingest", "").replace("rootPreflight", "").replace("preflight", "")
        kind = kind.replace("Short", "")
        root = opid.startswith("root")
        if o["method"] == "OPTIONS":
            pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
            c += [
                dict(name=opid, op=opid, status=204, token=None, headers=dict(pre, Origin="https://shop.example")),
                dict(name=opid + " refused origin", op=opid, status=403, token=None, headers=dict(pre, Origin="https://evil.example"),
                     absent_headers=["access-control-allow-origin"]),
            ]
            continue
        if kind == "Batch":
            good = {"batch": [dict(MESSAGES[k][0], type=k.lower()) for k in MESSAGES]}
            bad = {"batch": [dict(MESSAGES["Track"][0], type="track"), dict(MESSAGES["Track"][1], type="track")]}
        else:
            good, bad = MESSAGES[kind]
        c += [
            dict(name=opid, op=opid, status=200, body=good, then=_eq({"success": True})),
            dict(name=opid + " Basic", op=opid, status=200, body=good, auth="basic"),
            dict(name=opid + " writeKey", op=opid, status=200, token=None, body=lambda ctx, cl, g=good: dict(g, writeKey=cl.tokens["full"])),
            dict(name=opid + " gzip", op=opid, status=200, body=good, gzip=True),
            dict(name=opid + " text/plain from an allowed origin", op=opid, status=200, body=good,
                 headers={"Content-Type": "text/plain", "Origin": "https://shop.example"}, expect_headers=["access-control-allow-origin"]),
            dict(name=opid + " unknown query parameter ignored", op=opid, status=200, body=good, query={"foo": "bar"}),
            dict(name=opid + " bad message", op=opid, status=400, body=bad),
            dict(name=opid + " not JSON", op=opid, status=400, body="[1,2]"),
            dict(name=opid + " bad gzip", op=opid, status=400, body=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"}),
            dict(name=opid + " no credentials", op=opid, status=401, token=None, body=good),
            dict(name=opid + " bad writeKey", op=opid, status=401, token=None, body=dict(good, writeKey="pd_nope")),
            dict(name=opid + " read-only token", op=opid, status=403, token="read", body=good),
            dict(name=opid + " refused origin", op=opid, status=403, body=good, headers={"Origin": "https://evil.example"},
                 absent_headers=["access-control-allow-origin"]),
            dict(name=opid + " 1.1 MB body", op=opid, status=413, body=BIG),
            dict(name=opid + " 429", op=opid, status=429, server="tight", until=3, body=good),
        ]
        if opid in ("ingestBatch", "rootIngestTrackShort"):  # two of them: 17 MiB each
            c.append(dict(name=opid + " 17 MiB body", op=opid, status=413, body=HUGE))
        if root:
            c.append(dict(name=opid + " account-wide token", op=opid, status=400, token="account", body=good))
        else:
            c.append(dict(name=opid + " other tenant", op=opid, status=403, path=OTHER_TENANT, body=good))
    return c


def ops_cases():
    return [
        dict(name="health", op="health", status=200, token=None, then=_eq({"status": "ok"})),
        dict(name="health ignores a query", op="health", status=200, token=None, query={"x": "1"}),
        dict(name="ready", op="ready", status=200, token=None, then=_eq({"status": "ready"})),
        dict(name="ready while draining", op="ready", status=503, token=None, server="drain", until=100),
        dict(name="metrics", op="metrics", status=200, token=None,
             then=lambda ctx, res: None if b"profiled_requests_total" in res.value
             else (_ for _ in ()).throw(AssertionError("no profiled_requests_total"))),
        dict(name="docs page", op="docsPage", status=200, token=None),
        dict(name="openapi.json", op="openapiDocument", status=200, token=None, then=_same_document),
        dict(name="docs page not built", op="docsPage", status=404, token=None, server="nohist"),
        dict(name="openapi.json not built", op="openapiDocument", status=404, token=None, server="nohist"),
    ]


def build(doc):
    cases = []
    for op, (full, has_fields) in VIEWS.items():
        cases += read_view_cases(op, full, has_fields)
    cases += traits_history_view_cases() + trait_history_cases()
    cases += list_cases() + events_cases() + batch_cases() + delete_cases() + ingest_cases(doc) + ops_cases()
    return cases
