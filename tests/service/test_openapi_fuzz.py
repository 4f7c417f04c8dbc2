"""schemathesis against the service's own OpenAPI document: no server error, responses
conform to the schema, and no operation that declares authentication serves without it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
)

from service_support import Service, build_service


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = build_service(tmp_path_factory.mktemp("fuzz"))
    yield svc
    svc.platform.storage.close()


def _auth_for(svc: Service, path: str) -> dict[str, str]:
    if path.startswith("/v1/licenses"):
        return svc.issuer("淄博市公安局")
    if path.startswith(("/v1/codes", "/v1/presentations", "/v1/consents", "/v1/me")):
        return svc.holder()
    return svc.rp("hotel-qidu")


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    ignored_auth,
]


def test_no_input_breaks_the_api_or_its_contract(fuzzed: Service) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case: Any) -> None:
            case.headers = {**(case.headers or {}), **_auth_for(fuzzed, case.path)}
            case.call_and_validate(checks=CHECKS)

        run()
