"""The `touchpoint` command line."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from app.auth.keys import IssuedKey, count_keys, create_key
from app.auth.scopes import Scope, parse_scopes
from app.core.db import create_database
from app.core.errors import Unprocessable
from app.core.middleware import setup_logging
from app.core.migrate import upgrade
from app.core.settings import Settings, get_settings

cli = typer.Typer(help="Touchpoint retention engine.", no_args_is_help=True)
keys_cli = typer.Typer(help="Manage API keys.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
err = Console(stderr=True)


def _setup_logging(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_format)


async def _issue_key(
    settings: Settings, name: str, scopes: list[Scope], only_if_none: bool
) -> IssuedKey | None:
    db = create_database(settings)
    try:
        async with db.sessionmaker() as session, session.begin():
            if only_if_none and await count_keys(session) > 0:
                return None
            return await create_key(session, name, scopes)
    finally:
        await db.dispose()


@cli.command()
def migrate() -> None:
    """Apply every pending database migration."""
    settings = get_settings()
    upgrade(settings.database_url)
    err.print("[green]database is up to date[/green]")


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Serve the API only.")] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the one port; each has its own connection pool, rate "
            "limiter and (unless --no-worker) background worker.",
        ),
    ] = 1,
) -> None:
    """Migrate, then serve the API (with the background worker unless --no-worker)."""
    import uvicorn
    from fastapi import FastAPI

    from app.main import RUN_WORKER_ENV, create_app, tune_gc

    settings = get_settings()
    _setup_logging(settings)
    upgrade(settings.database_url)
    issued = asyncio.run(_issue_key(settings, "admin (first start)", [Scope.ADMIN], True))
    if issued is not None:
        err.print(
            "[bold yellow]First start: an admin API key was created. It is shown only once;"
            " keep it safe:[/bold yellow]"
        )
        print(issued.key, flush=True)
    # Several processes need the app by name; they read the same environment.
    os.environ[RUN_WORKER_ENV] = "0" if no_worker else "1"
    if workers == 1:
        app: FastAPI | str = create_app(settings, run_worker=not no_worker)
        tune_gc()
    else:
        app = "app.main:served_app"
    uvicorn.run(
        app,
        factory=workers > 1,
        workers=workers,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our JSON logging
        access_log=False,  # the request-context middleware logs each request with its id
        timeout_graceful_shutdown=30,
        # A new server process answers uvicorn's health pings only once it has imported the
        # app (seconds on a busy machine); at the default 5 s it was killed and respawned.
        timeout_worker_healthcheck=60,
    )


@cli.command()
def worker() -> None:
    """Run the background worker only (several may run against one PostgreSQL)."""
    from app.main import tune_gc
    from app.wiring import worker_jobs
    from app.worker.runner import Worker

    settings = get_settings()
    _setup_logging(settings)
    tune_gc()

    async def _run() -> None:
        db = create_database(settings)
        w = Worker(db, settings, worker_jobs())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, w.stop)
        try:
            await w.run()
        finally:
            await db.dispose()

    asyncio.run(_run())


@cli.command()
def fit(
    as_of: Annotated[
        datetime | None, typer.Option("--as-of", help="Fit on events at or before (RFC 3339).")
    ] = None,
) -> None:
    """Fit BG/NBD + Gamma-Gamma now and refresh every customer's prediction."""
    from app.ltv.service import fit_models

    settings = get_settings()
    upgrade(settings.database_url)
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)

    async def _fit() -> None:
        db = create_database(settings)
        try:
            async with db.sessionmaker() as session, session.begin():
                row = await fit_models(session, settings, as_of)
                params = ", ".join(f"{k}={v:.6g}" for k, v in row.params.items())
                print(
                    f"{row.kind}: {params} (time unit: days); customers {row.n_customers}, "
                    f"repeat {row.n_repeat_customers}; as_of {row.as_of.isoformat()}; "
                    f"{row.duration_ms} ms"
                )
        finally:
            await db.dispose()

    asyncio.run(_fit())


@cli.command()
def backtest(
    calibration_end: Annotated[
        datetime,
        typer.Option("--calibration-end", help="Fit on facts at or before this (RFC 3339, UTC)."),
    ],
    holdout_end: Annotated[
        datetime | None,
        typer.Option("--holdout-end", help="Score on what happened up to this (default now)."),
    ] = None,
) -> None:
    """Back-test BG/NBD, MBG/NBD and Pareto/NBD on the shop's history and store the report."""
    from app.ltv.service import backtest_out, run_backtest

    settings = get_settings()
    upgrade(settings.database_url)
    start = calibration_end if calibration_end.tzinfo else calibration_end.replace(tzinfo=UTC)
    end = (
        holdout_end
        if holdout_end is None or holdout_end.tzinfo
        else holdout_end.replace(tzinfo=UTC)
    )

    async def _run() -> None:
        db = create_database(settings)
        try:
            async with db.sessionmaker() as session, session.begin():
                out = backtest_out(await run_backtest(session, settings, start, end))
        finally:
            await db.dispose()
        print(
            f"back-test {out.id}: calibration to {out.calibration_end.isoformat()}, holdout to "
            f"{out.holdout_end.isoformat()} ({out.horizon_days:g} days); customers "
            f"{out.customers}, repeat {out.repeat_customers}"
        )
        for m in [*out.models, *([out.fallback] if out.fallback else [])]:
            error = f"{m.aggregate_error:+.2%}" if m.aggregate_error is not None else "n/a"
            params = ", ".join(f"{k}={v:.4g}" for k, v in m.params.items())
            print(
                f"  {m.model:10s} predicted {m.predicted_repeat_purchases:10.1f}  actual "
                f"{m.actual_repeat_purchases:7d}  aggregate error {error:>8s}  MAE {m.mae:.4f}"
                f"  {params}"
            )
        if out.spend is not None and out.spend.aggregate_error is not None:
            print(
                f"  spend (Gamma-Gamma): predicted mean {out.spend.predicted_mean_spend:.2f}, "
                f"actual {out.spend.actual_mean_spend:.2f} "
                f"({out.spend.aggregate_error:+.2%}), MAE {out.spend.mae:.2f}"
            )
        print(f"chosen: {out.chosen_model or 'none (fallback)'}: {out.reason}")

    try:
        asyncio.run(_run())
    except Unprocessable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc


@cli.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    fmt: Annotated[
        str, typer.Option("--format", help="csv or jsonl (default: from the file name).")
    ] = "",
    mapping: Annotated[
        str,
        typer.Option("--map", help="Columns by hand: customer_id=Клиент,amount=Сумма,..."),
    ] = "",
    chunk: Annotated[int, typer.Option(help="Rows written per transaction.")] = 50_000,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the rows are stored; workers derive.")
    ] = False,
) -> None:
    """Import an order history (CSV — 1C exports too — or JSON lines). Idempotent: importing
    the same file again changes nothing. Bad rows are reported with their line and skipped.
    Waits until the imported customers are derived, unless --no-wait."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    from app.importer.reader import read_file
    from app.importer.service import import_batches

    settings = get_settings()
    upgrade(settings.database_url)
    explicit = {}
    for pair in filter(None, (p.strip() for p in mapping.split(","))):
        field, _, column = pair.partition("=")
        if not column:
            err.print(f"[red]--map wants field=column pairs, got {pair!r}[/red]")
            raise typer.Exit(2)
        explicit[field.strip()] = column.strip()
    kind = fmt or ("jsonl" if file.suffix.lower() in (".jsonl", ".ndjson") else "csv")
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            TaskProgressColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task(f"importing {file.name}", total=file.stat().st_size)
            derived = bar.add_task("deriving customers' state", total=None, visible=False)

            def progress(_rows: int, position: int) -> None:
                bar.update(task, completed=position)

            def derived_progress(done: int, total: int) -> None:
                bar.update(derived, completed=done, total=total, visible=True)

            async def _run() -> object:
                db = create_database(settings)
                try:
                    return await import_batches(
                        db,
                        settings,
                        read_file(file, kind, explicit, chunk),
                        progress,
                        derived_progress,
                        wait=not no_wait,
                    )
                finally:
                    await db.dispose()

            report = asyncio.run(_run())
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    except RuntimeError as exc:  # the reading process failed or died
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    from app.importer.service import Report

    assert isinstance(report, Report)
    for line, reason in report.rejected[:50]:
        err.print(f"line {line}: {reason}")
    if len(report.rejected) > 50:
        err.print(f"… and {len(report.rejected) - 50} more bad rows")
    rate = report.rows / report.seconds if report.seconds else 0.0
    print(
        f"rows {report.rows}: imported {report.imported}, already there {report.duplicates}, "
        f"rejected {len(report.rejected)}; customers {report.customers}; "
        f"{report.seconds:.1f} s ({rate:,.0f} rows/s)"
    )
    print(
        f"rows read and written in {report.rows_seconds:.1f} s; derived state (stage, rhythm, "
        f"predictions, next touch) of {report.customers} customers in "
        f"{report.derived_seconds:.1f} s"
    )


@cli.command()
def demo(
    customers: Annotated[int, typer.Option(help="How many customers.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same shop).")] = 7,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once the events are stored; workers derive.")
    ] = False,
) -> None:
    """Fill the database with a realistic synthetic shop, derive it, fit the models, and
    print a key (with --no-wait: store the events only, a running worker derives them)."""
    from rich.progress import Progress

    from app.demo.service import fill

    settings = get_settings()
    upgrade(settings.database_url)

    async def _run() -> dict[str, int]:
        db = create_database(settings)
        try:
            with Progress(console=err, disable=not err.is_terminal) as bar:
                task = bar.add_task("ingesting the demo shop", total=None)
                derived = bar.add_task("deriving customers' state", total=None, visible=False)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                def derived_progress(done: int, total: int) -> None:
                    bar.update(derived, completed=done, total=total, visible=True)

                return await fill(
                    db, settings, customers, seed, progress, derived_progress, wait=not no_wait
                )
        finally:
            await db.dispose()

    counts = asyncio.run(_run())
    issued = asyncio.run(_issue_key(settings, "demo", [Scope.ADMIN], False))
    assert issued is not None
    print(
        f"demo shop: {counts['accepted']} events accepted ({counts['duplicate']} already there); "
        "try: curl -H 'Authorization: Bearer <key>' http://127.0.0.1:8000/v1/analytics/pyramid"
    )
    print(issued.key)


@cli.command()
def rebuild(
    customer: Annotated[
        list[str] | None,
        typer.Option("--customer", help="Only this customer (repeatable); default: all."),
    ] = None,
) -> None:
    """Derive every customer (or the given ones) again from the stored facts, with the
    current rules and settings; shows progress."""
    from rich.progress import Progress

    from app.projection.service import rebuild as rebuild_customers

    settings = get_settings()
    upgrade(settings.database_url)

    async def _run() -> tuple[int, int]:
        db = create_database(settings)
        try:
            with Progress(console=err, disable=not err.is_terminal) as bar:
                task = bar.add_task("deriving customers again", total=None)

                def progress(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                return await rebuild_customers(db, settings, customer or None, progress)
        finally:
            await db.dispose()

    try:
        marked, derived = asyncio.run(_run())
    except LookupError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    print(f"rebuilt: {marked} customers marked, {derived} derived")


@keys_cli.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who the key is for.")],
    scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated scopes.")],
) -> None:
    """Create an API key; the key itself is printed alone on the last line."""
    try:
        parsed = parse_scopes(scopes)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if not name.strip() or len(name) > 200:
        err.print("[red]--name must be 1 to 200 characters[/red]")
        raise typer.Exit(2)
    settings = get_settings()
    upgrade(settings.database_url)
    issued = asyncio.run(_issue_key(settings, name, parsed, False))
    assert issued is not None
    print(f"created key {issued.id} '{issued.name}' with scopes {','.join(issued.scopes)}")
    print(issued.key)


@cli.command()
def openapi(
    check: Annotated[bool, typer.Option("--check", help="Fail if the file is stale.")] = False,
) -> None:
    """Write openapi/openapi.json from the code (or check that it matches)."""
    from app.core.openapi import OPENAPI_PATH, render
    from app.main import create_app

    text = render(create_app(Settings(env="test")))
    if check:
        if not OPENAPI_PATH.exists() or OPENAPI_PATH.read_text() != text:
            err.print("[red]openapi/openapi.json is stale: run `touchpoint openapi`[/red]")
            raise typer.Exit(1)
        return
    OPENAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_PATH.write_text(text)
    err.print(f"wrote {OPENAPI_PATH}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
