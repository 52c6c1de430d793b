"""The schema package against the recorded fixtures and what nocbot publishes.

Fixtures: messaging/testdata/fixtures/*.json (the wire format's examples, with
the values a class must return under "expected"). Published bodies: the golden
files messaging/testdata/*.golden.json, which nocbot's Go tests compare with
what the builder makes and publishes to a real broker.
"""

import glob
import json
import os
import sys
import unittest

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

from nocbot_messages import CLASSES  # noqa: E402


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def message(topic, body, headers):
    cls = CLASSES[topic]
    msg = cls(body=body, headers=headers, topic=topic)
    msg.validate()
    return msg


class Fixtures(unittest.TestCase):
    def test_fixtures(self):
        files = sorted(glob.glob(os.path.join(REPO, "messaging", "testdata", "fixtures", "*.json")))
        self.assertGreaterEqual(len(files), 3)
        for path in files:
            with self.subTest(os.path.basename(path)):
                fx = load(path)
                msg = message(fx["topic"], fx["body"], fx["properties"]["headers"])
                exp = fx["expected"]
                self.assertEqual(msg.summary, exp["summary"])
                self.assertEqual(msg.url, exp["url"])
                self.assertEqual(msg.app_name, exp["app_name"])
                self.assertEqual(msg.agent_name, exp["agent_name"])
                self.assertEqual(msg.usernames, exp["usernames"])
                self.assertEqual(msg.packages, exp["packages"])
                self.assertEqual(msg.groups, exp["groups"])
                self.assertTrue(str(msg).startswith(exp["summary"] + "\n"))
                self.assertIn(exp["url"], str(msg))


class Published(unittest.TestCase):
    def test_golden_bodies(self):
        files = sorted(glob.glob(os.path.join(REPO, "messaging", "testdata", "*.golden.json")))
        self.assertGreaterEqual(len(files), 8)
        for path in files:
            with self.subTest(os.path.basename(path)):
                g = load(path)
                msg = message(g["topic"], g["body"], g["headers"])
                users = sorted(k[len("fedora_messaging_user_"):] for k in g["headers"]
                               if k.startswith("fedora_messaging_user_"))
                self.assertEqual(sorted(msg.usernames), users)
                self.assertEqual(msg.agent_name, g["body"]["agent"])
                self.assertEqual(msg.summary, g["body"]["summary"])
                self.assertEqual(msg.packages, [])
                obj = g["body"].get("incident") or g["body"].get("maintenance") or g["body"]["notice"]
                self.assertEqual(msg.url, obj["url"])
                self.assertIn(msg.summary, str(msg))

    def test_refuses_bad_bodies(self):
        fx = load(os.path.join(REPO, "messaging", "testdata", "fixtures", "incident-open.json"))
        body = dict(fx["body"])
        del body["incident"]
        with self.assertRaises(jsonschema.ValidationError):
            message(fx["topic"], body, fx["properties"]["headers"])
        with self.assertRaises(jsonschema.ValidationError):
            message(fx["topic"], fx["body"], dict(fx["properties"]["headers"], fedora_messaging_severity=25))

    def test_every_topic_has_a_class(self):
        topics = {os.path.basename(p)[:-len(".golden.json")] for p in glob.glob(
            os.path.join(REPO, "messaging", "testdata", "*.golden.json"))}
        self.assertEqual(len(CLASSES), 10)
        for name, cls in CLASSES.items():
            self.assertEqual(cls.topic, name)
            self.assertTrue(name.endswith(".v1"))
        self.assertTrue(topics)


if __name__ == "__main__":
    unittest.main()


class Checker(unittest.TestCase):
    def test_check_lines(self):
        import contextlib
        import io
        import tempfile
        from nocbot_messages import check
        fx = load(os.path.join(REPO, "messaging", "testdata", "fixtures", "incident-open.json"))
        good = {"topic": fx["routing_key"], "headers": fx["properties"]["headers"],
                "id": fx["properties"]["message_id"], "body": fx["body"]}
        bad = dict(good, body={"summary": "no incident"})
        for records, want in (([good], 0), ([good, bad], 1)):
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
                f.write("\n".join(json.dumps(r) for r in records) + "\n")
            try:
                out, err = io.StringIO(), io.StringIO()
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    self.assertEqual(check.main([f.name]), want)
                self.assertIn(fx["expected"]["summary"], out.getvalue())
                self.assertEqual(bool(err.getvalue()), want == 1)
            finally:
                os.unlink(f.name)
