"""Validate serialized messages (one JSON object per line, as `fedora-messaging
consume --callback` dumps them: topic, headers, id, body) with these classes.

    python3 -m nocbot_messages.check FILE...

Prints one line per message (its summary) and exits 1 on the first invalid one.
The topic may carry the deployment prefix (org.fedoraproject.prod.).
"""

import json
import sys

from .messages import CLASSES


def check(record):
    topic = record["topic"]
    name = record.get("headers", {}).get("fedora_messaging_schema") or topic
    cls = CLASSES.get(name)
    if cls is None:
        raise ValueError("no class for schema %r (topic %s)" % (name, topic))
    if not topic.endswith(cls.topic):
        raise ValueError("topic %s does not end with its schema %s" % (topic, cls.topic))
    msg = cls(body=record["body"], headers=record.get("headers", {}), topic=topic)
    msg.validate()
    return msg


def main(argv):
    for path in argv:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    msg = check(json.loads(line))
                except Exception as e:  # report which line, then stop
                    print("%s:%d: %s" % (path, n, e), file=sys.stderr)
                    return 1
                print("%s %s [%s] %s" % (json.loads(line).get("id", "-"), msg.topic, ",".join(msg.usernames), msg.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
