"""Per-file statuses of the `videos` table and the error that carries them."""

from __future__ import annotations

OK = "ok"
TRUNCATED = "truncated"  # decoding stopped early; the readable part was used
UNREADABLE = "unreadable"  # not a media file, or the container/codec cannot be opened
EMPTY = "empty"  # zero-length file
NO_VIDEO_STREAM = "no_video_stream"  # e.g. an audio-only file with a video extension
TOO_SHORT = "too_short"  # shorter than the shortest clip worth keeping
DUPLICATE = "duplicate"  # same content as another file already in the table
FAILED = "failed"  # an unexpected error in our own code; the message says which

USABLE = (OK, TRUNCATED)  # statuses whose clips are kept (truncated: the readable part)
STATUSES = (OK, TRUNCATED, UNREADABLE, EMPTY, NO_VIDEO_STREAM, TOO_SHORT, DUPLICATE, FAILED)


class MediaError(Exception):
    """A file that cannot be used, with the `status` it gets in the `videos` table."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status
