"""The baseline for bench/http.py: a bare FastAPI endpoint that only decodes a JWT (pyjwt,
ES256, signature verified) and answers. Everything elicense adds is measured against it."""

from __future__ import annotations

import os

import jwt
from fastapi import FastAPI
from pydantic import BaseModel

PUBLIC_PEM = os.environ["BARE_PUBLIC_PEM"].encode()


class Body(BaseModel):
    text: str
    scenario: str


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/verify")
    def verify(body: Body) -> dict[str, object]:
        claims = jwt.decode(body.text, PUBLIC_PEM, algorithms=["ES256"])
        return {"verdict": "accepted", "claims": claims}

    return app
