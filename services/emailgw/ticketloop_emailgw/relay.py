"""The development relay: an SMTP server that writes each mail it gets to a folder, one `.eml`
file per message (open it with any mail client). `make run` sends the gateway's mail here."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session


class FolderRelay:
    """An aiosmtpd handler: every accepted mail becomes `<folder>/<UTC time>-<id>.eml`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Write the mail as received (with the envelope's recipients as `X-Envelope-To`)."""
        raw = envelope.original_content or b""
        recipients = ", ".join(envelope.rcpt_tos)
        data = f"X-Envelope-To: {recipients}\r\n".encode() + raw
        try:
            path = await asyncio.to_thread(self._write, data)
        except OSError:
            return "451 4.3.0 cannot write the mail to the folder"
        return f"250 2.0.0 OK {path.name}"

    def _write(self, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}.eml"
        temporary = self.folder / f".{name}.part"
        temporary.write_bytes(data)
        os.replace(temporary, self.folder / name)  # a reader never sees half a mail
        return self.folder / name
