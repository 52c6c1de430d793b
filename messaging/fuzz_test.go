package messaging

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzMessageBody feeds arbitrary bytes to what reads message bodies: Decode (the stored form,
// read back by the broker loop and by replay) and the schema check. Neither may panic; a message
// Decode accepts encodes and decodes to the same message; a valid message stays valid after that
// round trip (what is sent is what was stored).
func FuzzMessageBody(f *testing.F) {
	v, err := NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	golden, _ := filepath.Glob("testdata/*.golden.json")
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var g struct {
			Topic string          `json:"topic"`
			ID    string          `json:"id"`
			Body  json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(b, &g); err != nil {
			f.Fatalf("%s: %v", path, err)
		}
		stored, err := Encode(Message{ID: g.ID, Topic: g.Topic, SentAt: "2026-12-01T07:42:07+00:00", Body: g.Body, Cause: "incident/1/1-1"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(stored)
	}
	for _, s := range []string{``, `{}`, `null`, `{"id":"x","topic":"incident.open.v1","body":1}`, `{"id":"x","topic":"..","body":{}}`,
		`{"id":"x","topic":"incident.open.v1","body":{"summary":"<b>\u0000"},"users":[""]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Decode(payload)
		if err != nil {
			return
		}
		verr := v.Validate(m)
		_ = v.ValidateBody(m.Topic, m.Body)
		_ = m.Summary()
		enc, err := Encode(m)
		if err != nil {
			if json.Valid(m.Body) {
				t.Fatalf("Encode of a decoded message: %v", err)
			}
			return
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(m)) of %q: %v", enc, err)
		}
		// RawMessage keeps the bytes but Encode may compact them; compare the body as JSON.
		var b1, b2 bytes.Buffer
		if json.Compact(&b1, m.Body) != nil || json.Compact(&b2, again.Body) != nil || b1.String() != b2.String() {
			t.Fatalf("body changed in the round trip: %q became %q", m.Body, again.Body)
		}
		m.Body, again.Body = nil, nil
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("message changed in the round trip: %+v became %+v", m, again)
		}
		if verr == nil {
			again.Body = b2.Bytes()
			if err := v.Validate(again); err != nil {
				t.Fatalf("valid message invalid after the round trip: %v", err)
			}
		}
	})
}
