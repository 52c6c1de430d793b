"""fedora-messaging schemas of nocbot's messages (one class per topic)."""

from .messages import (  # noqa: F401
    IncidentOpenV1,
    IncidentResolveV1,
    IncidentUpdateV1,
    MaintenanceCancelV1,
    MaintenanceCompleteV1,
    MaintenanceScheduleV1,
    MaintenanceStartV1,
    MaintenanceUpdateV1,
    NoticeClearV1,
    NoticeSetV1,
    CLASSES,
)
