"""``rxguard serve``: the REST API and CDS Hooks over HTTP (uvicorn)."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from pydantic import ValidationError

from rxguard.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
        workers: Annotated[
            int | None,
            typer.Option(
                help="Worker processes (each reads the same RXGUARD_* settings). Default: two where this process "
                "may run on two or more cores (one with RXGUARD_CDS_REPLAY_CACHE=memory), else one.",
                min=1,
            ),
        ] = None,
    ) -> None:
        """Serve the REST API (/api/v1), CDS Hooks (/cds-services), /healthz, /readyz and /metrics."""
        import uvicorn

        from rxguard.api.app import create_app
        from rxguard.api.settings import ServerSettings

        try:
            settings = ServerSettings()
        except ValidationError as exc:
            problems = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in exc.errors())
            raise InputError(f"settings refused: {problems}") from None
        if workers is None:
            workers = default_workers(settings.cds_replay_cache)
        if workers > 1 and settings.cds_replay_cache == "memory":
            raise InputError(
                "RXGUARD_CDS_REPLAY_CACHE=memory cannot protect several workers from replayed JWTs; "
                "use database (the default) or one worker"
            )
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if not settings.public_url:
            # Development: JWT audiences and card links name the address served here, never a
            # request's Host header. Workers read it from the environment like every setting.
            public = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
            os.environ["RXGUARD_PUBLIC_URL"] = public
            settings = settings.model_copy(update={"public_url": public})
        typer.echo(f"rxguard serving on http://{shown}:{port} (API docs at http://{shown}:{port}/docs)", err=True)
        common = {
            "host": host,
            "port": port,
            "log_config": None,  # rxguard's JSON logging, configured by create_app
            "access_log": False,  # the request middleware logs each request (route template, no query)
            "timeout_keep_alive": 5,
            "timeout_graceful_shutdown": 10,
            "server_header": False,
        }
        if workers > 1:
            uvicorn.run("rxguard.api.app:create_app", factory=True, workers=workers, **common)  # type: ignore[arg-type]
        else:
            uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]


def default_workers(replay_cache: str) -> int:
    """Two workers where this process may use two or more cores, else one (one with an in-memory replay cache)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 2 if cores >= 2 and replay_cache != "memory" else 1
