"""The bare web stack the platform's HTTP figures are compared with: an ASGI app with one JSON
route, served by the same uvicorn, the same way (``bench/bench_web.py``)."""

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ok(request):  # noqa: ANN001, ANN201
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/healthz", ok), Route("/api/v1/areas/{code}", ok)])
