"""Fixtures for the service tests (see service_support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service_support import Service, build_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = build_service(tmp_path_factory.mktemp("svc"))
    yield svc
    svc.platform.storage.close()
