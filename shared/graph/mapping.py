"""How what Graph sends back becomes the app's own types.

Kept apart from the calls in ``gateway`` so that what Graph sends back (methods, users, role
grants, groups, the error envelope, the request-id header) is read in one place, and the
gateway reads as the list of calls a reset makes. Reads arrive as Graph's JSON (see
``GraphGateway._read`` for why not as SDK models); errors arrive as the SDK's ``ODataError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.middleware.options import HeadersInspectionHandlerOption

from shared.graph.contract import DirectoryUser, GraphError, GroupRef, RoleGrant
from shared.models import (
    PASSWORD_ODATA_TYPE,
    MethodType,
    PhoneType,
    RegisteredMethod,
    mask_address,
    mask_phone_number,
)

Json = dict[str, Any]

if TYPE_CHECKING:
    from msgraph.generated.users.item.authentication.authentication_request_builder import (
        AuthenticationRequestBuilder,
    )


def item_builder(auth: AuthenticationRequestBuilder, kind: MethodType, method_id: str) -> Any:
    """The type-specific item endpoint: Graph has no generic DELETE for methods."""
    builders: dict[MethodType, Callable[[], Any]] = {
        MethodType.phone: lambda: auth.phone_methods.by_phone_authentication_method_id(method_id),
        MethodType.email: lambda: auth.email_methods.by_email_authentication_method_id(method_id),
        MethodType.microsoft_authenticator: lambda: (
            auth.microsoft_authenticator_methods.by_microsoft_authenticator_authentication_method_id(
                method_id
            )
        ),
        MethodType.software_oath: lambda: (
            auth.software_oath_methods.by_software_oath_authentication_method_id(method_id)
        ),
        MethodType.fido2: lambda: auth.fido2_methods.by_fido2_authentication_method_id(method_id),
        MethodType.windows_hello_for_business: lambda: (
            auth.windows_hello_for_business_methods.by_windows_hello_for_business_authentication_method_id(
                method_id
            )
        ),
        MethodType.temporary_access_pass: lambda: (
            auth.temporary_access_pass_methods.by_temporary_access_pass_authentication_method_id(
                method_id
            )
        ),
        MethodType.platform_credential: lambda: (
            auth.platform_credential_methods.by_platform_credential_authentication_method_id(
                method_id
            )
        ),
        MethodType.external_authentication: lambda: (
            auth.external_authentication_methods.by_external_authentication_method_id(method_id)
        ),
    }
    return builders[kind]()


def describe_method(method: Json) -> RegisteredMethod | None:
    """Our view of one method as Graph sent it; None for the password, which a reset never
    touches."""
    odata_type = str(method.get("@odata.type") or "")
    if odata_type.lower() == PASSWORD_ODATA_TYPE.lower():
        return None
    kind = MethodType.from_odata_type(odata_type)
    phone_type: PhoneType | None = None
    display: str | None = method.get("displayName")
    if kind is MethodType.phone:
        raw_type = method.get("phoneType")
        phone_type = PhoneType(raw_type) if raw_type in set(PhoneType) else None
        display = mask_phone_number(method.get("phoneNumber"))
    elif kind is MethodType.email:
        display = mask_address(method.get("emailAddress"))
    elif kind is MethodType.hardware_oath:
        device = method.get("device") or {}
        display = device.get("displayName") or device.get("serialNumber") or display
    return RegisteredMethod(
        type=kind,
        odata_type=odata_type,
        id=str(method["id"]),
        phone_type=phone_type,
        display=display,
    )


def directory_user(user: Json, key: str) -> DirectoryUser:
    return DirectoryUser(
        id=str(user["id"]),
        user_principal_name=user.get("userPrincipalName") or key,
        user_type=user.get("userType"),
        account_enabled=user.get("accountEnabled"),
        display_name=user.get("displayName"),
        management_restricted=user.get("isManagementRestricted"),
        mail=user.get("mail") or None,
        given_name=user.get("givenName") or None,
        surname=user.get("surname") or None,
    )


def role_grant(principal_id: str, item: Json) -> RoleGrant:
    definition = item.get("roleDefinition") or {}
    definition_id = str(item.get("roleDefinitionId") or "").lower()
    return RoleGrant(
        principal_id=principal_id,
        role_definition_id=definition_id,
        template_id=str(definition.get("templateId") or definition_id).lower(),
        name=str(definition.get("displayName") or definition_id),
        directory_scope_id=str(item.get("directoryScopeId") or "/"),
    )


def group_ref(group: Json) -> GroupRef:
    owners = group.get("owners") or []
    return GroupRef(
        id=str(group["id"]).lower(),
        name=str(group.get("displayName") or group["id"]),
        role_assignable=bool(group.get("isAssignableToRole")),
        owner_ids=frozenset(str(o["id"]).lower() for o in owners if o.get("id")),
    )


def response_headers() -> tuple[HeadersInspectionHandlerOption, RequestConfiguration[Any]]:
    """A request option that makes the SDK keep the response headers of this one call."""
    option = HeadersInspectionHandlerOption(
        inspect_request_headers=False, inspect_response_headers=True
    )
    return option, RequestConfiguration(options=[option])


def request_id_of(seen: HeadersInspectionHandlerOption) -> str | None:
    """Graph's request-id of the call; several when the SDK retried it (429, 503)."""
    ids = sorted(seen.response_headers.get("request-id"))
    return ",".join(ids) or None


def graph_error(exc: Any) -> GraphError:
    """Graph's envelope (code, message, request-id) out of the SDK's ODataError."""
    status = getattr(exc, "response_status_code", None)
    headers = {k.lower(): v for k, v in (getattr(exc, "response_headers", None) or {}).items()}
    main = getattr(exc, "error", None)
    inner = getattr(main, "inner_error", None)
    request_id = getattr(inner, "request_id", None) or headers.get("request-id")
    return GraphError(
        status=status,
        code=str(getattr(main, "code", None) or "unknown"),
        message=str(getattr(main, "message", None) or getattr(exc, "message", None) or exc),
        request_id=request_id,
        retry_after=headers.get("retry-after"),
    )
