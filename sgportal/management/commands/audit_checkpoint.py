"""audit_checkpoint: write a signed checkpoint of every audit chain head (log, directory, S3)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from sgportal.checkpoints import CheckpointError, write_checkpoint


class Command(BaseCommand):
    help = (
        "Sign every tenant's audit chain head and write the checkpoint to the log, "
        "AUDIT_CHECKPOINT_DIR and AUDIT_CHECKPOINT_S3_URI (those set); exits non-zero if a "
        "store could not be written."
    )

    def handle(self, *args, **options) -> None:
        try:
            written = write_checkpoint()
        except CheckpointError as exc:
            raise CommandError(str(exc)) from exc
        for place in written:
            self.stdout.write(f"checkpoint written to {place}")
