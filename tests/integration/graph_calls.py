"""Calls of the remoteAssistancePartners resource for the tests, as one
tenant's caller sees it. Each test takes a fresh tenant (tid), so the rows it
lists and counts are its own, whatever else the shared service stores."""
import json
import threading
import uuid

import requests

READ = "DeviceManagementServiceConfig.Read.All"
WRITE = "DeviceManagementServiceConfig.ReadWrite.All"
BETA_APP_READ = "DeviceManagementConfiguration.Read.All"

# The ways a request may name one entity (OData key-as-segment and keys in
# parentheses); a 201's Location uses the second.
KEY_FORMS = {
    "segment": "/{id}",
    "key": "('{id}')",
    "named": "(id='{id}')",
}


class Caller:
    """A tenant's client: delegated with ReadWrite.All unless told otherwise
    (claims are Keys.claims overrides, e.g. scp=READ, or scp=None with
    roles=[...] for an application token)."""

    def __init__(self, service, tenant=None, version="v1.0", **claims):
        self.service = service
        self.tenant = tenant or str(uuid.uuid4())
        self.version = version
        self.claims = dict({"scp": WRITE}, **claims)
        self.claims["tid"] = self.tenant
        self.session = requests.Session()

    def token(self):
        return self.service.keys.token(**self.claims)

    def url(self, suffix=""):
        return self.service.url(self.version) + suffix

    def entity_url(self, pid, form="segment"):
        return self.url(KEY_FORMS[form].format(id=pid))

    def request(self, method, suffix="", body=None, params=None, headers=None, data=None,
                url=None):
        h = {"Authorization": f"Bearer {self.token()}"}
        if body is not None or data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        if data is None and body is not None:
            data = json.dumps(body)
        return self.session.request(method, url or self.url(suffix), params=params, data=data,
                                    headers={k: v for k, v in h.items() if v is not None},
                                    timeout=30)

    def create(self, **props):
        resp = self.request("POST", body=props)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, pid, form="segment", **kw):
        return self.request("GET", url=self.entity_url(pid, form), **kw)

    def patch(self, pid, body, form="segment", **kw):
        return self.request("PATCH", url=self.entity_url(pid, form), body=body, **kw)

    def delete(self, pid, form="segment", **kw):
        return self.request("DELETE", url=self.entity_url(pid, form), **kw)

    def action(self, pid, name, form="segment", **kw):
        return self.request("POST", url=self.entity_url(pid, form) + "/" + name, **kw)

    def list(self, **params):
        return self.request("GET", params=params or None)

    def count(self, **params):
        return self.request("GET", "/$count", params=params or None)

    def ids(self, max_pages=200, **params):
        """Every id the collection lists for params, following nextLinks (a
        page that never ends fails rather than loops)."""
        seen, resp = [], self.list(**params)
        for _ in range(max_pages):
            assert resp.status_code == 200, resp.text
            page = resp.json()
            seen.extend(e["id"] for e in page["value"])
            if "@odata.nextLink" not in page:
                return seen
            resp = self.request("GET", url=page["@odata.nextLink"])
        raise AssertionError(f"more than {max_pages} pages: {seen[:20]}...")


class BackgroundLoad:
    """Threads that each run `worker(n)` beside a test, until it returns or
    `stopping` is set: entering starts them, leaving stops and joins them.
    Subclasses count their answers under `lock`."""

    def __init__(self, threads):
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.worker, args=(n,)) for n in range(threads)]

    def worker(self, n):
        raise NotImplementedError

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
