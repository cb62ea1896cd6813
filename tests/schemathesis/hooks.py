"""Schemathesis hooks for kassa: every generated request is signed the way a real client signs it.

Both signing schemes cover the exact bytes that go on the wire (the body as serialized, the path
with its query string), which only exist once `requests` has prepared the request; so signing is a
`requests` auth handler, attached to every call by the `before_call` hook.

Environment: KASSA_API_KEY and KASSA_API_SECRET (a key of a funded customer).
"""

import base64
import hashlib
import hmac
import os
import time

import requests
import schemathesis

API_KEY = os.environ["KASSA_API_KEY"]
API_SECRET = os.environ["KASSA_API_SECRET"]


class KassaAuth(requests.auth.AuthBase):
    """Signs `/api/v1/...` with X-API-Key/X-Timestamp/X-Signature and `/profile/...` with BB-ACCESS-*.

    Headers in `keep` are the ones a negative test case removed or spoiled on purpose (a missing
    X-Timestamp, a malformed BB-ACCESS-SIGN): they are left as the case made them, so the server's
    refusal is what gets tested.
    """

    def __init__(self, keep=()):
        self.keep = {name.lower() for name in keep}

    def set(self, request, name, value):
        if "*" not in self.keep and name.lower() not in self.keep:
            request.headers[name] = value

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        path = request.path_url
        if path.startswith("/api/v1/"):
            timestamp = str(int(time.time()))
            message = "\n".join([request.method, path, timestamp, hashlib.sha256(body).hexdigest()])
            signature = hmac.new(API_SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
            self.set(request, "X-API-Key", API_KEY)
            self.set(request, "X-Timestamp", timestamp)
            self.set(request, "X-Signature", "sha256=" + signature)
        elif path.startswith("/profile/"):
            timestamp = "%.3f" % time.time()
            prehash = timestamp.encode() + request.method.encode() + path.encode() + body
            digest = hmac.new(base64.b64decode(API_SECRET), prehash, hashlib.sha256).digest()
            self.set(request, "BB-ACCESS-KEY", API_KEY)
            self.set(request, "BB-ACCESS-TIMESTAMP", timestamp)
            self.set(request, "BB-ACCESS-SIGN", base64.b64encode(digest).decode())
        return request


def spoiled_headers(case):
    """The headers a negative case removed or spoiled on purpose; `*` when it dropped the
    required headers as a whole. Reads schemathesis' own record of the mutation (an internal
    API, hence the pinned version in scripts/test.sh)."""
    from schemathesis.core.parameters import ParameterLocation
    from schemathesis.generation.meta import negated_parameters

    meta = case._meta
    if meta is None or not meta.generation.mode.is_negative:
        return set()
    names = {name for name, location in negated_parameters(meta) if location == ParameterLocation.HEADER}
    data = meta.phase.data
    mutations = [data, *getattr(data, "mutations", ())]
    if any(getattr(m, "parameter_location", None) == ParameterLocation.HEADER and getattr(m, "parameter", None) is None
           for m in mutations):
        names.add("*")
    return names


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = KassaAuth(keep=spoiled_headers(case))
