"""The bot's one error tree: what can go wrong behind a command, and what the user is told."""

from typing import Any


class BotError(Exception):
    """Base of every error a command turns into an ephemeral message."""

    def user_message(self) -> str:
        return "Something went wrong; please try again later."


class Unavailable(BotError):
    """The API or the database could not be reached (down, timing out, or answering 5xx)."""

    def __init__(self, service: str, cause: str) -> None:
        super().__init__(f"{service} unavailable: {cause}")
        self.service = service
        self.cause = cause

    def user_message(self) -> str:
        return (
            f"coffer's {self.service} is not reachable right now, so nothing was read or changed. "
            "Please try again in a minute."
        )


class ApiRefused(BotError):
    """The API answered a 4xx problem (``code`` is the API's stable error code)."""

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body

    def user_message(self) -> str:
        return f"coffer refused: {self.detail}"
