"""OpenAPI endpoints kubectl probes (`/openapi/v2`, `/openapi/v3`).

podfleet publishes no schemas yet: both answer 404, which kubectl treats as "no OpenAPI" and then
relies on server-side field validation (`fieldValidation=Strict`) and its compiled-in types.
"""

from __future__ import annotations

from aiohttp import web

from podfleet.api.errors import NotFound


def handle(request: web.Request, parts: list[str]) -> web.Response:
    raise NotFound("the server could not find the requested resource")
