"""The Request Service API's ``createPresentationRequest`` as the emulator serves it, and the
requests it has created, kept for tests to read.

``POST {origin}/verifiedid/v1.0/verifiableCredentials/createPresentationRequest`` stands in
for ``https://verifiedid.did.msidentity.com/v1.0/...`` (``presentation-request-api.md``;
the tenant comes from the token, not the URL). What it checks, in order:

1. the route (404 ``notFound``) and the method (405 ``methodNotAllowed``);
2. the bearer token (401 ``unauthorized``, inner ``tokenError``): one the emulator's
   managed-identity endpoint issued, still live, for the resource
   ``3db474b9-6a0c-4840-96ac-1fceb342124f`` (the "Verifiable Credentials Service Request"
   service principal, the same appId in every tenant; azure-identity asks the App Service
   endpoint for ``resource=3db474b9-...`` when given the scope ``3db474b9-.../.default``);
3. the app role (403 ``forbidden``): the identity must hold
   ``VerifiableCredential.Create.PresentRequest`` or ``VerifiableCredential.Create.All``
   (``verifiable-credentials-configure-tenant.md``) in ``tenant.verified_id_roles``. The
   real service reads the token's ``roles`` claim, fixed when the token was issued; the
   emulator reads the grant when the request arrives, so a test can revoke it at once. The
   inner code of a 403 is not documented; the emulator sends ``tokenError`` (UNCONFIRMED);
4. the body (:mod:`.validation`: 400 ``badRequest``, inner ``badOrMissingField``, ``target``).

It answers 201 with ``requestId``, ``url`` (``openid-vc://?request_uri=...``), ``expiry``
(Unix seconds, now + :attr:`VerifiedIdService.request_lifetime`, 300 by default: a Microsoft
maintainer says a request lives 5 minutes and cannot be extended, issue 63 of
Azure-Samples/active-directory-verifiable-credentials) and ``qrCode`` (a ``data:`` PNG) only
when ``includeQRCode`` is true. The service never calls back by itself: callbacks come from
:class:`~.wallet.Wallet`, which tests drive.

Faults are scripted in :attr:`VerifiedIdService.faults`, a list of its own so a Graph fault
with a broad ``path`` never lands on a Verified ID call: ``status`` 429 or 503 answers in the
service's envelope with the inner code ``transientError`` (documented for 429) and the
fault's ``Retry-After``; ``delay``, ``drop`` and ``drop_after`` work as for Graph.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .._common import stable_guid
from ..faults import Fault, FaultList
from ..identity import ManagedIdentity
from ..tenant import Tenant
from ..transport import Handler, parse_json
from .presentation import PresentationRequest
from .validation import RequestServiceError, validate
from .wallet import Wallet

VERIFIED_ID_APP_ID = "3db474b9-6a0c-4840-96ac-1fceb342124f"
PRESENT_REQUEST_ROLE = "VerifiableCredential.Create.PresentRequest"
CREATE_ALL_ROLE = "VerifiableCredential.Create.All"
PREFIX = "/verifiedid/v1.0"
CREATE_PATH = f"{PREFIX}/verifiableCredentials/createPresentationRequest"
REQUEST_LIFETIME = 300
# A valid 1x1 PNG: the app shows the QR code it renders itself, so any image will do.
QR_CODE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhf"
    "DwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
_JSON = "application/json; charset=utf-8"


@dataclass
class ServiceCall:
    """One HTTP call the service answered (faulted and refused ones too)."""

    method: str
    path: str
    status: int
    body: Any
    answer: Any = field(repr=False)


class VerifiedIdService:
    """The request service over one tenant and the emulator's managed identity, served
    under :attr:`prefix` of the emulator's origin."""

    prefix = PREFIX

    def __init__(self, tenant: Tenant, identity: ManagedIdentity, lock: threading.RLock) -> None:
        self.tenant = tenant
        self._identity = identity
        self._lock = lock
        self.faults = FaultList(lock)
        self.request_lifetime = REQUEST_LIFETIME
        self.origin = ""  # set by the emulator once it has an address
        self._requests: dict[str, PresentationRequest] = {}
        self._calls: list[ServiceCall] = []
        self.wallet = Wallet(tenant, self.request)

    @property
    def base_url(self) -> str:
        """What the app's ``VERIFIED_ID_BASE_URL`` is set to (the real one ends ``/v1.0``)."""
        return f"{self.origin}{PREFIX}"

    @property
    def requests(self) -> dict[str, PresentationRequest]:
        with self._lock:
            return dict(self._requests)

    def request(self, request_id: str) -> PresentationRequest:
        with self._lock:
            found = self._requests.get(request_id)
        if found is None:
            raise KeyError(f"no presentation request {request_id}")
        return found

    def latest(self) -> PresentationRequest:
        """The most recently created request (tests rarely know its id beforehand)."""
        with self._lock:
            if not self._requests:
                raise LookupError("no presentation request has been created")
            return list(self._requests.values())[-1]

    def expire(self, request_id: str | None = None) -> PresentationRequest:
        """Let a request (the latest by default) reach its expiry now."""
        found = self.request(request_id) if request_id else self.latest()
        with self._lock:
            found.expiry = int(time.time()) - 1
        return found

    @property
    def calls(self) -> list[ServiceCall]:
        with self._lock:
            return list(self._calls)

    # -- HTTP ------------------------------------------------------------------------------

    def serve(self, handler: Handler) -> None:
        raw = handler.read_body()
        body, invalid = parse_json(raw)
        path = unquote(handler.path.split("?", 1)[0]).rstrip("/")
        fault = self.faults.take(handler.command, path)
        if fault is not None and fault.delay > 0:
            time.sleep(fault.delay)
        if fault is not None and fault.drop:
            handler.close_connection = True
            return
        status, answer, headers = self._answer(handler, path, body, invalid, fault)
        with self._lock:
            self._calls.append(ServiceCall(handler.command, path, status, body, answer))
        if fault is not None and fault.drop_after:
            handler.close_connection = True
            return
        handler.write(status, headers, answer, content_type=_JSON)

    def _answer(
        self, handler: Handler, path: str, body: Any, invalid: bool, fault: Fault | None
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            if fault is not None and not fault.drop_after and fault.status != 0:
                raise _fault_error(fault)
            if path.lower() != CREATE_PATH.lower():
                raise RequestServiceError(404, "notFound", f"No resource at {path}.", path)
            if handler.command != "POST":
                raise RequestServiceError(
                    405, "methodNotAllowed", f"{handler.command} is not allowed here."
                )
            self._authorize(handler.headers.get("Authorization", ""))
            if invalid:
                raise RequestServiceError(
                    400, "badOrMissingField", "The request body is not valid JSON."
                )
            validate(body)
        except RequestServiceError as exc:
            return exc.status, exc.body(), exc.headers
        return 201, self._create(body), {}

    def _authorize(self, authorization: str) -> None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RequestServiceError(401, "tokenError", "No bearer token in Authorization.")
        issued = self._identity.audience_of(token.strip())
        if issued is None:
            raise RequestServiceError(401, "tokenError", "The access token is not valid.")
        resource, live = issued
        if not live:
            raise RequestServiceError(401, "tokenError", "The access token has expired.")
        audience = resource.rstrip("/").lower()
        if audience != VERIFIED_ID_APP_ID:
            raise RequestServiceError(
                401,
                "tokenError",
                f"The access token's audience '{resource}' is not {VERIFIED_ID_APP_ID}.",
            )
        with self._lock:
            roles = set(self.tenant.verified_id_roles)
        if not roles & {PRESENT_REQUEST_ROLE, CREATE_ALL_ROLE}:
            raise RequestServiceError(
                403,
                "tokenError",
                f"The access token carries no role {PRESENT_REQUEST_ROLE} (or {CREATE_ALL_ROLE}).",
            )

    def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        request_id = str(uuid.uuid4())
        tenant_id = stable_guid(self.tenant.domain, "tenant")
        url = (
            f"openid-vc://?request_uri={self.base_url}/{tenant_id}"
            f"/verifiableCredentials/presentationRequests/{request_id}"
        )
        now = time.time()
        created = PresentationRequest(
            request_id, copy.deepcopy(body), url, int(now) + self.request_lifetime, now
        )
        with self._lock:
            self._requests[request_id] = created
        answer: dict[str, Any] = {"requestId": request_id, "url": url, "expiry": created.expiry}
        if body.get("includeQRCode") is True:
            answer["qrCode"] = QR_CODE
        return answer


def _fault_error(fault: Fault) -> RequestServiceError:
    """A scripted failure in the service's envelope; 429 and 503 say retry."""
    transient = fault.status in (408, 429, 500, 502, 503, 504)
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
    return RequestServiceError(
        fault.status,
        "transientError" if transient else "badOrMissingField",
        "Scripted failure: retry later." if transient else "Scripted failure.",
        headers=headers,
    )
