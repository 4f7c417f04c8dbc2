"""A real demo platform (home, keys, SQLite, demo data) behind the real app.

The clock is controllable: tests move time forward instead of sleeping.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from elicense import demo
from elicense.home import init_home, open_platform
from elicense.platform import Platform
from elicense.storage import upgrade
from elicense_service.app import create_app
from elicense_service.runtime import Runtime
from elicense_service.settings import Settings

PASS = b"service-test-passphrase"


class Clock:
    def __init__(self) -> None:
        self.now = int(time.time())

    def __call__(self) -> int:
        return self.now


@dataclass
class Service:
    client: TestClient
    platform: Platform
    clock: Clock
    demo: demo.DemoResult
    home: Path

    def rp(self, rp_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.rp_keys[rp_id]}"}

    def issuer(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.rp_keys['issuer:' + name]}"}

    def holder(self, index: int = 0) -> dict[str, str]:
        from elicense.sessions import holder_session

        token = holder_session(
            self.platform.signer,
            platform=self.platform.platform_id,
            pseudonym=self.demo.residents[index],
            now=self.clock(),
        )
        return {"Authorization": f"Bearer {token}"}

    def code(
        self, index: int = 0, scenarios: tuple[str, ...] = ("hotel_checkin",), **kw: object
    ) -> str:
        r = self.client.post(
            "/v1/codes", json={"scenarios": list(scenarios), **kw}, headers=self.holder(index)
        )
        assert r.status_code == 200, r.text
        return str(r.json()["text"])


def build_service(
    tmp: Path, *, settings: Settings | None = None, database_url: str | None = None
) -> Service:
    clock = Clock()
    home = tmp / "platform"
    cfg = init_home(
        home,
        region=demo.REGION,
        region_name=demo.REGION_NAME,
        issuers=demo.demo_issuers(),
        passphrase=PASS,
        now=clock(),
        database_url=database_url,
    )
    upgrade(cfg.database_url)
    platform = open_platform(home, passphrase=PASS, now=clock())
    result = demo.populate(platform, now=clock())
    runtime = Runtime(platform=platform, clock=clock)
    app = create_app(settings or Settings(home=home, checkpoint_every=5), runtime=runtime)
    return Service(TestClient(app, raise_server_exceptions=False), platform, clock, result, home)
