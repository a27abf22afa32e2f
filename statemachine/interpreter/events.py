"""History events as AWS's GetExecutionHistory returns them.

Type names are AWS's HistoryEventType values; each event's details sit under AWS's key
(``stateEnteredEventDetails``, ``lambdaFunctionFailedEventDetails``...).

Reference: https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, PlainSerializer


def details_key(event_type: str) -> str:
    """AWS's name for the details field of an event type."""
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return event_type[0].lower() + event_type[1:] + "EventDetails"


def iso_time(moment: datetime) -> str:
    """Timestamps as the AWS CLI prints them (ISO 8601, microseconds, UTC offset)."""
    return moment.isoformat(timespec="microseconds")


class HistoryEvent(BaseModel):
    id: int
    previous_event_id: int
    type: str
    #: In JSON always with microseconds (``iso_time``): stored histories' timestamps then
    #: compare as text (the durable store's append script keeps them in order).
    timestamp: Annotated[datetime, PlainSerializer(iso_time, when_used="json")]
    details: dict[str, Any] | None = None

    def to_aws(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "timestamp": iso_time(self.timestamp),
            "type": self.type,
            "id": self.id,
            "previousEventId": self.previous_event_id,
        }
        if self.details is not None:
            event[details_key(self.type)] = self.details
        return event
