"""The ``elicense`` command line: one tool, consistent verbs, ``--json`` for scripts.

Exit codes: 0 success, 1 invalid input (an ``ElicenseError``; its code is printed),
2 usage error.
"""

from __future__ import annotations

import typer

from elicense.cli import (
    catalog,
    codes,
    db,
    ids,
    importer,
    keys,
    licenses,
    platform_cmds,
    scenario,
    trust,
)
from elicense.cli._common import handles_errors

app = typer.Typer(
    name="elicense",
    help="elicense — 无证明城市电子证照核验工具 e-license toolkit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ids.app, name="id")
app.add_typer(catalog.app, name="catalog")
app.add_typer(scenario.app, name="scenario")
app.add_typer(keys.app, name="keys")
app.add_typer(trust.app, name="trust")
app.add_typer(db.app, name="db")
app.command("issue")(handles_errors(licenses.issue))
app.command("verify")(licenses.verify)
app.command("code")(handles_errors(codes.code))
app.command("present")(handles_errors(codes.present))
app.command("init")(platform_cmds.init)
app.command("serve")(platform_cmds.serve)
app.command("import")(importer.import_licenses)
app.command("revoke")(platform_cmds.revoke)
app.command("suspend")(platform_cmds.suspend)
app.command("reinstate")(platform_cmds.reinstate)
app.add_typer(platform_cmds.status_app, name="status")
app.add_typer(platform_cmds.rp_app, name="rp")
app.add_typer(platform_cmds.consent_app, name="consent")
app.add_typer(platform_cmds.audit_app, name="audit")


def main() -> None:
    app()
