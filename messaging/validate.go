package messaging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator checks messages against the schemas consumers apply: the
// fedora-messaging headers and the body schema of the topic. A message
// that fails would be rejected (nacked) by every consumer, so the
// builder refuses it instead of storing it.
type Validator struct {
	headers *jsonschema.Schema
	bodies  map[string]*jsonschema.Schema // by schema file name
}

// NewValidator compiles the embedded schemas.
func NewValidator() (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	files := SchemaFiles()
	for name, b := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	v := &Validator{bodies: map[string]*jsonschema.Schema{}}
	for name := range files {
		s, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		if name == headersSchema {
			v.headers = s
		} else {
			v.bodies[name] = s
		}
	}
	return v, nil
}

const headersSchema = "fedora-messaging-headers.json"

// Validate checks the topic, the headers and the body of m.
func (v *Validator) Validate(m Message) error {
	if err := CheckTopic(m.Topic); err != nil {
		return err
	}
	name, err := schemaFile(m.Topic)
	if err != nil {
		return err
	}
	body, ok := v.bodies[name]
	if !ok {
		return fmt.Errorf("message %s: no schema for topic %s", m.ID, m.Topic)
	}
	// Round-trip the headers through JSON, as a consumer sees them.
	hb, err := json.Marshal(m.Headers())
	if err != nil {
		return fmt.Errorf("message %s headers: %w", m.ID, err)
	}
	if err := v.ValidateJSON(v.headers, hb); err != nil {
		return fmt.Errorf("message %s headers: %w", m.ID, err)
	}
	if err := v.ValidateJSON(body, m.Body); err != nil {
		return fmt.Errorf("message %s body (%s): %w", m.ID, m.Topic, err)
	}
	return nil
}

// ValidateBody checks a body received for topic (tests check what a
// consumer got).
func (v *Validator) ValidateBody(topic string, body []byte) error {
	name, err := schemaFile(topic)
	if err != nil {
		return err
	}
	s, ok := v.bodies[name]
	if !ok {
		return fmt.Errorf("body for topic %q: no schema for that topic", topic)
	}
	return v.ValidateJSON(s, body)
}

// ValidateHeaders checks headers as a consumer decoded them from JSON.
func (v *Validator) ValidateHeaders(headers []byte) error {
	return v.ValidateJSON(v.headers, headers)
}

// ValidateJSON validates a JSON document against s.
func (v *Validator) ValidateJSON(s *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(inst)
}

// CheckTopic applies the topic rules: ASCII words joined by '.', at most
// 255 bytes, a known nocbot topic.
func CheckTopic(topic string) error {
	if len(topic) > 255 {
		return fmt.Errorf("topic %q: longer than 255 bytes", topic)
	}
	for _, t := range Topics() {
		if t == topic {
			return nil
		}
	}
	return fmt.Errorf("topic %q: not one of nocbot's (%s)", topic, strings.Join(Topics(), ", "))
}

func schemaFile(topic string) (string, error) {
	parts := strings.Split(topic, ".")
	if len(parts) != 4 || parts[0] != "nocbot" {
		return "", fmt.Errorf("schema of %q: not a nocbot topic", topic)
	}
	return "nocbot." + parts[1] + "." + parts[3] + ".json", nil
}
