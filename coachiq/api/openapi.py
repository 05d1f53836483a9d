"""The OpenAPI document, with response models that only the document carries.

A route that sends JSON already in its final shape (the entity list and one entity, serialised by the
entity manager) gains nothing at run time from a response model: FastAPI would still build that model's
validator and serialiser for each inclusion of the route, and the entity models, one per type and device
family with its state, are the largest of the API (with the state models they cost an idle server about
1.7 MiB resident). Such a route is declared without one, and its model is named here; it is imported,
and attached to a documentation-only copy of the route, when the document is first asked for. The
document is the same as with the model on the route (tests/api/test_openapi_document.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

__all__ = ["install_openapi"]

# An endpoint -> a function returning the response model its route is documented with.
DocumentedModels = Mapping[Callable[..., Any], Callable[[], Any]]


def install_openapi(app: FastAPI, documented: DocumentedModels) -> None:
    """Build `app`'s OpenAPI document (at its first request, again after its routes change: the runtime
    then clears `app.openapi_schema`) with the response models of `documented`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title, version=app.version, openapi_version=app.openapi_version, summary=app.summary,
                description=app.description, terms_of_service=app.terms_of_service, contact=app.contact,
                license_info=app.license_info, routes=_documented_routes(app, documented),
                webhooks=app.webhooks.routes, tags=app.openapi_tags, servers=app.servers,
                separate_input_output_schemas=app.separate_input_output_schemas,
                external_docs=app.openapi_external_docs)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to shape the document


def _documented_routes(app: FastAPI, documented: DocumentedModels) -> list[APIRoute | RouteContext]:
    """The app's routes, each route of `documented` replaced by a copy with its response model (the copy
    only describes: it never answers a request)."""
    routes: list[APIRoute | RouteContext] = []
    for context in iter_route_contexts(app.routes):
        endpoint = context.endpoint
        model = documented.get(endpoint) if endpoint is not None else None
        routes.append(context if endpoint is None or model is None else
                      _with_response_model(context, endpoint, model()))
    return routes


def _with_response_model(route: RouteContext, endpoint: Callable[..., Any], model: Any) -> APIRoute:
    """`route` (whose endpoint is `endpoint`) as it would be declared with `response_model=model`."""
    return APIRoute(
        route.path or "", endpoint, response_model=model, status_code=route.status_code, tags=route.tags,
        dependencies=route.dependencies, summary=route.summary, description=route.description,
        response_description=route.response_description, responses=route.responses, deprecated=route.deprecated,
        name=route.name, methods=route.methods, operation_id=route.operation_id,
        include_in_schema=route.include_in_schema, response_class=route.response_class,
        callbacks=route.callbacks, openapi_extra=route.openapi_extra,
        generate_unique_id_function=route.generate_unique_id_function)
