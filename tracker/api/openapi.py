"""The OpenAPI 3.1 document of the API, built from the routes themselves, and the page showing it.

Each route declares its operation with `@operation(...)` right above its function; the document
walks the URL map, so a route cannot exist without being documented (a test checks it) and the
paths and methods are those Flask serves. The shapes are the components below, the one place the
JSON of design.md §4 is written down. Swagger UI is served from the `swagger-ui-bundle-v2` package,
never from a CDN: the bureau's intranet has no internet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, abort, current_app, jsonify, render_template, send_from_directory
from flask_babel import gettext as _

from tracker.api import API_PREFIX, bp
from tracker.api.common import MAX_ID
from tracker.api.errors import STATUS_ERRORS
from tracker.guards import public
from tracker.models import ItemStatus, ReviewDecision
from tracker.models.catalogue import Family, RequirementKind

F = TypeVar("F", bound=Callable[..., Any])

OPENAPI_ATTRIBUTE = "openapi_operation"
API_VERSION = "1.0.0"
# Files of the Swagger UI distribution the docs page loads (nothing else is served from it).
SWAGGER_FILES = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
        "favicon-16x16.png",
    }
)
_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")


# ---------------------------------------------------------------- schema helpers


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema or null (OpenAPI 3.1: a JSON Schema type list, or anyOf for a $ref)."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict[str, Any], required: Iterable[str] | None = None) -> dict[str, Any]:
    """An object schema; every property is required unless listed otherwise."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else list(required),
    }


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
DECIMAL = {"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "exact decimal"}
STATUSES = [s.value for s in ItemStatus]
FAMILIES = [f.value for f in Family]

SCHEMAS: dict[str, Any] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {**STRING, "description": "stable, English: act on this"},
                    "message": {**STRING, "description": "for people, in the user's language"},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": STRING},
                        "description": "422 only: the messages of each invalid field",
                    },
                },
                required=["code", "message"],
            )
        }
    ),
    "UserRef": obj({"email": STRING, "name": STRING}),
    "UnitRef": obj({"code": STRING, "name": STRING}),
    "Item": obj(
        {
            "id": INTEGER,
            "requirement": obj(
                {
                    "code": STRING,
                    "family": {"type": "string", "enum": FAMILIES},
                    "title": STRING,
                    "kind": {"type": "string", "enum": [k.value for k in RequirementKind]},
                }
            ),
            "unit": ref("UnitRef"),
            "period": nullable({**STRING, "examples": ["2026-Q3"]}),
            "case": nullable(obj({"id": INTEGER, "case_no": STRING})),
            "due_date": DATE,
            "due_provisional": BOOLEAN,
            "due_basis": STRING,
            "status": {"type": "string", "enum": STATUSES},
            "overdue": BOOLEAN,
            "assignee": nullable(ref("UserRef")),
            "value": nullable(DECIMAL),
            "updated_at": DATETIME,
        }
    ),
    "ItemList": obj(
        {
            "items": {"type": "array", "items": ref("Item")},
            "total": {**INTEGER, "minimum": 0},
            "page": {**INTEGER, "minimum": 1},
            "per_page": {**INTEGER, "minimum": 1, "maximum": 200},
            "links": obj({"self": STRING, "next": nullable(STRING), "prev": nullable(STRING)}),
        }
    ),
    "Evidence": obj(
        {
            "id": INTEGER,
            "kind": {"type": "string", "enum": ["file", "link"]},
            "filename": nullable(STRING),
            "content_type": nullable(STRING),
            "size": nullable(INTEGER),
            "sha256": nullable({**STRING, "pattern": "^[0-9a-f]{64}$"}),
            "url": nullable(STRING),
            "title": nullable(STRING),
            "note": nullable(STRING),
            "occurred_on": nullable(DATE),
            "uploaded_at": DATETIME,
            "uploaded_by": ref("UserRef"),
            "submitted_round": nullable(INTEGER),
            "withdrawn_at": nullable(DATETIME),
            "download": nullable({**STRING, "description": "path of the file's download"}),
        }
    ),
    "Submission": obj(
        {
            "id": INTEGER,
            "round": INTEGER,
            "submitted_at": DATETIME,
            "submitted_by": ref("UserRef"),
            "note": nullable(STRING),
            "value": nullable(DECIMAL),
            "evidence_count": INTEGER,
        }
    ),
    "Review": obj(
        {
            "id": INTEGER,
            "decision": {"type": "string", "enum": [d.value for d in ReviewDecision]},
            "comment": nullable(STRING),
            "round": nullable(INTEGER),
            "reviewer": ref("UserRef"),
            "decided_at": DATETIME,
        }
    ),
    "HistoryEntry": obj(
        {
            "at": DATETIME,
            "action": {**STRING, "examples": ["item.submitted"]},
            "label": STRING,
            "actor": STRING,
            "details": {"type": "object"},
        }
    ),
    "ItemDetail": {
        "allOf": [
            ref("Item"),
            obj(
                {
                    "evidence": {"type": "array", "items": ref("Evidence")},
                    "submissions": {"type": "array", "items": ref("Submission")},
                    "reviews": {"type": "array", "items": ref("Review")},
                    "history": {
                        "type": "array",
                        "items": ref("HistoryEntry"),
                        "description": "latest first, at most 100 events",
                    },
                }
            ),
        ]
    },
    "EvidenceAdded": obj(
        {"evidence": {"type": "array", "items": ref("Evidence")}, "item": ref("Item")}
    ),
    "SubmitRequest": {
        "type": "object",
        "properties": {"note": nullable({**STRING, "maxLength": 2000})},
    },
    "Submitted": obj({"item": ref("Item"), "submission": ref("Submission")}),
    "ReviewRequest": {
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": ["approve", "return"]},
            "comment": nullable({**STRING, "description": "required to return an item"}),
        },
        "required": ["decision"],
    },
    "Reviewed": obj({"item": ref("Item"), "review": ref("Review")}),
    "Case": obj(
        {
            "id": INTEGER,
            "case_no": STRING,
            "unit": ref("UnitRef"),
            "decided_on": DATE,
            "served_on": nullable(DATE),
            "closed_on": nullable(DATE),
            "registered_on": nullable(DATE),
            "major": BOOLEAN,
            "party": STRING,
            "created_at": DATETIME,
        }
    ),
    "CaseWithItems": {
        "allOf": [ref("Case"), obj({"items": {"type": "array", "items": ref("Item")}})]
    },
    "CaseCreate": {
        "type": "object",
        "properties": {
            "case_no": {**STRING, "minLength": 1, "maxLength": 64},
            "unit": {**STRING, "description": "code of one of your units"},
            "decided_on": DATE,
            "served_on": nullable(DATE),
            "closed_on": nullable(DATE),
            "registered_on": nullable(DATE),
            "major": BOOLEAN,
            "party": {**STRING, "maxLength": 200},
        },
        "required": ["case_no", "unit", "decided_on"],
    },
    "FigureCounts": obj(
        {
            "total": INTEGER,
            "by_status": obj(dict.fromkeys(STATUSES, INTEGER)),
            "overdue": INTEGER,
            "completion_rate": nullable(
                {"type": "number", "minimum": 0, "maximum": 1, "description": "approved / total"}
            ),
        }
    ),
    "FigureRow": {
        "allOf": [
            ref("FigureCounts"),
            obj({"unit": ref("UnitRef"), "family": {"type": "string", "enum": FAMILIES}}),
        ]
    },
    "Dashboard": obj(
        {
            "year": INTEGER,
            "as_of": DATE,
            "rows": {"type": "array", "items": ref("FigureRow")},
            "totals": ref("FigureCounts"),
        }
    ),
}


# ---------------------------------------------------------------- operations


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def json_body(schema_name: str, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(schema_name)}}}


def json_response(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
    }


def operation(
    *,
    summary: str,
    tag: str,
    responses: dict[int, dict[str, Any]],
    errors: Iterable[int],
    description: str = "",
    parameters: list[dict[str, Any]] | None = None,
    request_body: dict[str, Any] | None = None,
    secured: bool = True,
) -> Callable[[F], F]:
    """Declare the OpenAPI operation of the route below (the document reads it from the view)."""
    spec: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if description:
        spec["description"] = description
    if parameters:
        spec["parameters"] = parameters
    if request_body:
        spec["requestBody"] = request_body
    merged = {str(status): body for status, body in responses.items()}
    statuses = {*errors, 429, 500}
    if secured:
        statuses.add(401)
    for status in sorted(statuses):
        merged[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    spec["responses"] = merged
    if not secured:
        spec["security"] = []

    def decorator(view: F) -> F:
        setattr(view, OPENAPI_ATTRIBUTE, spec)
        return view

    return decorator


def undocumented(view: F) -> F:
    """Mark a route of the blueprint as deliberately absent from the document (HTML pages)."""
    setattr(view, OPENAPI_ATTRIBUTE, None)
    return view


def _path_of(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """/api/v1/items/<int:item_id> -> (/items/{item_id}, its path parameters)."""
    parameters = []
    for match in _CONVERTER.finditer(rule):
        schema = (
            {"type": "integer", "minimum": 1, "maximum": MAX_ID}
            if match["conv"] == "int"
            else STRING
        )
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule).removeprefix(
        API_PREFIX
    ), parameters


def _error_responses() -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (code, _message) in sorted(STATUS_ERRORS.items()):
        response: dict[str, Any] = {
            "description": f"{code}",
            "content": {"application/json": {"schema": ref("Error")}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": STRING}}
        responses[f"E{status}"] = response
    return responses


def build_document() -> dict[str, Any]:
    """The whole document, from the URL map and each view's declared operation."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint is None or not rule.endpoint.startswith("api."):
            continue
        view = current_app.view_functions[rule.endpoint]
        spec = getattr(view, OPENAPI_ATTRIBUTE, None)
        if spec is None:
            continue
        path, parameters = _path_of(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation_spec = {**spec, "operationId": rule.endpoint.removeprefix("api.")}
            if parameters:
                operation_spec["parameters"] = parameters + list(spec.get("parameters", []))
            paths.setdefault(path, {})[method.lower()] = operation_spec
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "合规台账 Compliance Ledger API",
            "version": API_VERSION,
            "description": (
                "Read the checklist, feed it cases and evidence, submit and review items. "
                "Authenticate with a personal API token (Account → API tokens, or `flask --app "
                "wsgi tracker create-token`): `Authorization: Bearer trk_...`. A token acts with "
                'its user\'s role and units. Errors are `{"error": {"code", "message"}}`; '
                "422 adds `fields`. Messages follow the user's language; `code` is stable."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal API token, trk_...",
                }
            },
            "schemas": SCHEMAS,
            "responses": _error_responses(),
        },
    }


# ---------------------------------------------------------------- routes


@bp.get("/openapi.json")
@public
@operation(
    summary="This OpenAPI document",
    tag="meta",
    responses={200: {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
    errors=(),
    secured=False,
)
def openapi_document() -> Response:
    return jsonify(build_document())


@bp.get("/docs")
@public
@undocumented
def docs() -> str:
    """The document shown by Swagger UI (public, like the document: it holds no ledger data)."""
    return render_template("api/docs.html", title=_("API documentation"))


@bp.get("/docs/assets/<path:filename>")
@public
@undocumented
def docs_asset(filename: str) -> Response:
    if filename not in SWAGGER_FILES:
        abort(404)
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(str(swagger_ui_path), filename, max_age=86400)
