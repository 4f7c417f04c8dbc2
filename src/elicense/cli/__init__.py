"""The ``elicense`` command line: one tool, consistent verbs, ``--json`` for scripts.

Exit codes: 0 success, 1 invalid input (an ``ElicenseError``; its code is printed),
2 usage error.
"""

from __future__ import annotations

import typer

from elicense.cli import catalog, codes, ids, keys, licenses, trust
from elicense.cli._common import handles_errors

app = typer.Typer(
    name="elicense",
    help="elicense — 无证明城市电子证照核验工具 e-license toolkit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(ids.app, name="id")
app.add_typer(catalog.app, name="catalog")
app.add_typer(keys.app, name="keys")
app.add_typer(trust.app, name="trust")
app.command("issue")(handles_errors(licenses.issue))
app.command("verify")(licenses.verify)
app.command("code")(handles_errors(codes.code))
app.command("present")(handles_errors(codes.present))


def main() -> None:
    app()
