"""``flask --app verifier_sdk.app sync-trust``: the maintenance command on app.cli."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..errors import VerificationError
from ..sync import SyncError, sync_trust


@click.command("sync-trust")
@with_appcontext
@click.option("--source", help="publication URL or folder; default: PUBLICATION_URL, else the bundle's publication_url")
def sync_trust_command(source: str | None) -> None:
    """Update the trust data (TRUST_DIR) from the city, checked with the pinned ROOT_KEY."""
    config = current_app.config
    if not Path(config["ROOT_KEY"]).is_file():
        raise click.ClickException(f"no pinned root key at {config['ROOT_KEY']}; run 'cityid-verify serve --root-key FILE' once or set ROOT_KEY")
    try:
        result = sync_trust(config["TRUST_DIR"], config["ROOT_KEY"], source or config.get("PUBLICATION_URL"),
                            timeout=(5.0, float(config["SYNC_TIMEOUT"])), deadline=2 * float(config["SYNC_TIMEOUT"]),
                            max_status_age=current_app.extensions["cityid_purpose"].max_status_age)
    except (SyncError, VerificationError) as exc:
        raise click.ClickException(f"sync failed, the installed trust data is unchanged: {getattr(exc, 'message', exc)}") from None
    click.echo(f"{result.message} (from {result.source})")
