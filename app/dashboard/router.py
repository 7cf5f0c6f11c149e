"""HTTP only: the dashboard's static files (no key needed to load the page itself)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from app.core.errors import NotFound

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=TYPES[".html"])


@router.get("/dashboard/config.json")
async def config(request: Request) -> dict[str, str]:
    """The shop's locale, time zone and currency: how the page writes labels, times, money."""
    settings = request.app.state.settings
    return {
        "locale": settings.locale,
        "timezone": settings.timezone,
        "currency": settings.currency,
    }


@router.get("/dashboard/{name}")
async def asset(name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if path.parent != STATIC.resolve() or path.suffix not in TYPES or not path.is_file():
        raise NotFound("No such dashboard file.")
    return FileResponse(path, media_type=TYPES[path.suffix])
