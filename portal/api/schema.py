"""The error responses of the OpenAPI schema, stated once for every operation they concern.

Each view documents its own successes and the refusals particular to it; this hook adds the ones that
come from the framework around every view, so the schema lists every status the API answers with:

- 401 anywhere (a wrong token is refused before any view runs), with ``WWW-Authenticate``;
- 429 anywhere (the throttles), with ``Retry-After``;
- 404 where the path names something (an object, or an id past any row's);
- 400 where the operation reads query parameters or a body, or changes something (a service's refusal);
- 403 for the methods that change something (the session's CSRF check, the services' permission rules);
- 415 where the operation takes a body (of a type it does not parse), and 413 where that body is JSON or a
  form, which Django reads up to ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (files excepted).

Every 4xx response without a body of its own gets the API's error object, ``{"code", "detail"}``.
"""

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: a stable code and a sentence (field errors add a list per field).",
    "properties": {
        "code": {"type": "string", "description": "Stable, for programs: e.g. not_found, too_large."},
        "detail": {"type": "string", "description": "What went wrong, in a sentence for people."},
    },
    "required": ["code", "detail"],
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
UNSAFE_METHODS = {"post", "put", "patch", "delete"}
BOUNDED_MEDIA_TYPES = {"application/json", "application/x-www-form-urlencoded", "multipart/form-data"}


def _shared_errors(method: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    parameters = operation.get("parameters", [])
    media_types = set(operation.get("requestBody", {}).get("content", {}))
    has_body = bool(media_types)
    errors: dict[str, dict[str, Any]] = {
        "401": {
            "description": "No valid credentials: a wrong token, or none where the operation needs a user.",
            "headers": {
                "WWW-Authenticate": {"schema": {"type": "string"}, "required": True, "description": "Token"}
            },
        },
        "429": {
            "description": "Too many requests from this client.",
            "headers": {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait, when known."}
            },
        },
    }
    if any(parameter["in"] == "path" for parameter in parameters):
        errors["404"] = {"description": "Not found, or not visible to this user."}
    changes = method in UNSAFE_METHODS
    if changes or has_body or any(parameter["in"] == "query" for parameter in parameters):
        errors["400"] = {"description": "A parameter or the body is not valid, or the change is refused."}
    if changes:
        errors["403"] = {"description": "Not allowed to this user, or the session's CSRF check failed."}
    if has_body:
        errors["415"] = {"description": "The body is of a media type this operation does not take."}
    if media_types & BOUNDED_MEDIA_TYPES:
        errors["413"] = {"description": "The body is larger than this operation takes."}
    return errors


def postprocess_shared_errors(
    result: dict[str, Any], generator: object, request: object, public: bool
) -> dict[str, Any]:
    """drf-spectacular's postprocessing hook: add the shared error responses and the error object."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for operations in result["paths"].values():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, response in _shared_errors(method, operation).items():
                responses.setdefault(status, response)
            for status, response in responses.items():
                if status.startswith("4") and "content" not in response:
                    response["content"] = ERROR_CONTENT
    return result
