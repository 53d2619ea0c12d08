"""HTTP shapes of attached files: what a channel or an agent sends with a message, what the
timeline lists."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

# A hard ceiling on the list whatever the settings say (the settings' count limit answers first
# with `too_many_attachments`); the body limit bounds the rest.
MAX_LISTED = 50


class AttachmentIn(BaseModel):
    """A file sent with a message: JPEG, PNG, GIF, WebP or PDF, its type decided from its content."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1,
        max_length=1_000,
        description="The file's name (no path separators or control characters; at most 255 characters). "
        "When its extension does not fit the content's type, the type's extension is added.",
    )
    content_base64: str = Field(min_length=1, description="The file's bytes, base64-encoded (standard alphabet).")


class AttachmentOut(BaseModel):
    """A file attached to a timeline entry (`filename` reads `[erased]` once the customer's data
    is erased; its content can then no longer be downloaded)."""

    id: uuid.UUID
    filename: str
    content_type: str = Field(description="The type checked from the content.")
    size: int = Field(description="Bytes.")
