"""One class per nocbot topic, following fedora-messaging's schema contract.

The body schemas are the JSON files next to this module, shared with the Go
publisher. The classes derive from fedora_messaging.message.Message when the
library is installed; otherwise from a small stand-in with the same
properties, so the package can be tested where the library is not packaged.
"""

import json
import os

import jsonschema

try:  # pragma: no cover - depends on the environment
    from fedora_messaging.message import Message as _Base, INFO, WARNING
except ImportError:  # the stand-in: only what the properties below need
    INFO, WARNING = 20, 30

    class _Base:
        topic = ""
        body_schema = {"type": "object"}
        headers_schema = {"type": "object"}

        def __init__(self, body=None, headers=None, topic=None, severity=None):
            self.body = body or {}
            self._headers = headers or {}
            if topic:
                self.topic = topic
            self.severity = severity if severity is not None else self._headers.get(
                "fedora_messaging_severity", INFO)

        def validate(self):
            jsonschema.validate(self._headers, _HEADERS_SCHEMA)
            jsonschema.validate(self.body, self.body_schema)
            jsonschema.validate(self.body, {"type": "object"})


_DIR = os.path.join(os.path.dirname(__file__), "schemas")

# What fedora-messaging checks of the headers of every message.
_HEADERS_SCHEMA = {
    "type": "object",
    "properties": {
        "fedora_messaging_severity": {"type": "number", "enum": [10, 20, 30, 40]},
        "fedora_messaging_schema": {"type": "string"},
        "fedora_messaging_schema_package": {"type": "string"},
        "sent-at": {"type": "string"},
    },
}


def _schema(family):
    with open(os.path.join(_DIR, "nocbot.%s.v1.json" % family), encoding="utf-8") as f:
        return json.load(f)


class _NocbotMessage(_Base):
    """Properties every nocbot message shares."""

    family = ""  # incident, maintenance, notice

    @property
    def app_name(self):
        return "nocbot"

    @property
    def app_icon(self):
        return "https://fedoraproject.org/favicon.ico"

    @property
    def agent_name(self):
        return self.body.get("agent")

    @property
    def usernames(self):
        return [self.agent_name] if self.agent_name else []

    @property
    def groups(self):
        return []

    @property
    def packages(self):
        # Component ids are not RPM names: never report them as packages.
        return []

    @property
    def summary(self):
        return self.body.get("summary", self.topic)

    @property
    def url(self):
        return self.body.get(self.family, {}).get("url")

    def _subject(self):
        return self.body.get(self.family, {})

    def __str__(self):
        obj = self._subject()
        lines = [self.summary, ""]
        if self.family == "notice":
            lines.append("Notice: %s" % obj.get("text", ""))
            if obj.get("expires_at"):
                lines.append("Expires: %s" % obj["expires_at"])
        else:
            lines.append("Status: %s" % obj.get("status", ""))
            comps = obj.get("components") or []
            if comps:
                lines.append("Services: %s" % ", ".join(
                    "%s (%s)" % (c["name"], c["status"].replace("_", " ")) for c in comps))
            upd = self.body.get("update") or {}
            if upd.get("text"):
                lines.append("Update: %s" % upd["text"])
            if obj.get("ticket_url"):
                lines.append("Ticket: %s" % obj["ticket_url"])
        if self.url:
            lines.append("Details: %s" % self.url)
        return "\n".join(lines)


def _make(name, topic, family, doc):
    cls = type(name, (_NocbotMessage,), {
        "__doc__": doc,
        "topic": topic,
        "family": family,
        "body_schema": _schema(family),
    })
    return cls


IncidentOpenV1 = _make("IncidentOpenV1", "nocbot.incident.open.v1", "incident", "An incident was opened.")
IncidentUpdateV1 = _make("IncidentUpdateV1", "nocbot.incident.update.v1", "incident", "An incident got an update.")
IncidentResolveV1 = _make("IncidentResolveV1", "nocbot.incident.resolve.v1", "incident", "An incident was resolved.")
MaintenanceScheduleV1 = _make("MaintenanceScheduleV1", "nocbot.maintenance.schedule.v1", "maintenance",
                              "A maintenance window was planned.")
MaintenanceUpdateV1 = _make("MaintenanceUpdateV1", "nocbot.maintenance.update.v1", "maintenance",
                            "A maintenance got an update.")
MaintenanceStartV1 = _make("MaintenanceStartV1", "nocbot.maintenance.start.v1", "maintenance",
                           "A maintenance window started.")
MaintenanceCompleteV1 = _make("MaintenanceCompleteV1", "nocbot.maintenance.complete.v1", "maintenance",
                              "A maintenance was completed.")
MaintenanceCancelV1 = _make("MaintenanceCancelV1", "nocbot.maintenance.cancel.v1", "maintenance",
                            "A planned maintenance was cancelled before it started.")
NoticeSetV1 = _make("NoticeSetV1", "nocbot.notice.set.v1", "notice", "The page notice was set.")
NoticeClearV1 = _make("NoticeClearV1", "nocbot.notice.clear.v1", "notice", "The page notice was removed.")

CLASSES = {c.topic: c for c in (
    IncidentOpenV1, IncidentUpdateV1, IncidentResolveV1,
    MaintenanceScheduleV1, MaintenanceUpdateV1, MaintenanceStartV1, MaintenanceCompleteV1, MaintenanceCancelV1,
    NoticeSetV1, NoticeClearV1,
)}
