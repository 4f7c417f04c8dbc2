"""The elicense scan-to-verify service: a thin FastAPI layer over ``elicense.platform``."""

from elicense_service.app import create_app

__all__ = ["create_app"]
