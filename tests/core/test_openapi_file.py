from app.core.openapi import OPENAPI_PATH, render
from app.core.settings import Settings
from app.main import create_app


def test_committed_openapi_matches_the_code() -> None:
    assert OPENAPI_PATH.exists(), "run `touchpoint openapi` and commit openapi/openapi.json"
    assert OPENAPI_PATH.read_text() == render(create_app(Settings(env="test"))), (
        "openapi/openapi.json is stale: run `touchpoint openapi` (or `make openapi`)"
    )


def test_every_error_response_is_problem_json() -> None:
    spec = create_app(Settings(env="test")).openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    assert list(resp["content"]) == ["application/problem+json"], (path, method)
