// Package messaging turns status changes into messages for the
// community's message bus (fedora-messaging conventions: versioned
// topics, schema headers, one JSON object per body) and stores them in
// the durable outbox "messaging" inside the transaction of the change.
//
// It is pure: no AMQP client, no store. The publisher loop that sends
// the outbox with publisher confirms lives in messaging/broker, so the
// command layer can build messages without pulling the client in.
package messaging

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Box is the name of the store outbox that holds messages to publish.
const Box = "messaging"

// SchemaPackage is the Python distribution with one class per topic,
// named in every message so a consumer knows what to install.
const SchemaPackage = "nocbot_messages"

// The topics (without the deployment prefix). Topic = schema name, with
// the schema version in it, as the conventions advise.
const (
	IncidentOpen        = "nocbot.incident.open.v1"
	IncidentUpdate      = "nocbot.incident.update.v1"
	IncidentResolve     = "nocbot.incident.resolve.v1"
	MaintenanceSchedule = "nocbot.maintenance.schedule.v1"
	MaintenanceUpdate   = "nocbot.maintenance.update.v1"
	MaintenanceStart    = "nocbot.maintenance.start.v1"
	MaintenanceComplete = "nocbot.maintenance.complete.v1"
	MaintenanceCancel   = "nocbot.maintenance.cancel.v1"
	NoticeSet           = "nocbot.notice.set.v1"
	NoticeClear         = "nocbot.notice.clear.v1"
)

// Topics lists every topic nocbot publishes.
func Topics() []string {
	return []string{IncidentOpen, IncidentUpdate, IncidentResolve,
		MaintenanceSchedule, MaintenanceUpdate, MaintenanceStart, MaintenanceComplete, MaintenanceCancel,
		NoticeSet, NoticeClear}
}

// Severities of fedora-messaging (logging levels).
const (
	SeverityInfo    = 20
	SeverityWarning = 30
)

//go:embed schemas/*.json
var schemas embed.FS

// SchemaFiles returns the embedded schema files by name: one body
// schema per message family (nocbot.<family>.v1.json, draft-04) and the
// fedora-messaging header schema.
func SchemaFiles() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := schemas.ReadDir("schemas")
	for _, e := range entries {
		b, _ := schemas.ReadFile("schemas/" + e.Name())
		out[e.Name()] = b
	}
	return out
}

// Message is one publish as stored in the outbox: everything that must
// stay the same on a retry, a restart or a replay (id, sent-at, body) is
// fixed when the change commits. The deployment's prefix and exchange
// are applied when it is sent.
type Message struct {
	ID       string          `json:"id"`    // AMQP message_id, UUID form
	Topic    string          `json:"topic"` // without the prefix
	Severity int             `json:"severity"`
	SentAt   string          `json:"sent_at"` // fedora-messaging form: seconds, +00:00
	Users    []string        `json:"users,omitempty"`
	Body     json.RawMessage `json:"body"`
	// Cause is the outbox key: derived from what the change wrote, so a
	// replayed change cannot enqueue the message twice.
	Cause string `json:"cause"`
}

// Summary is the body's one-line summary.
func (m Message) Summary() string {
	var b struct {
		Summary string `json:"summary"`
	}
	_ = json.Unmarshal(m.Body, &b)
	return b.Summary
}

// Headers are the AMQP headers fedora-messaging sets: schema, package,
// severity, sent-at, priority and one fedora_messaging_user_<name> per
// user. Component ids are never sent as packages: consumers read those as
// RPM names and would notify the packagers of "koji".
func (m Message) Headers() map[string]any {
	h := map[string]any{
		"fedora_messaging_schema":         m.Topic,
		"fedora_messaging_schema_package": SchemaPackage,
		"fedora_messaging_severity":       m.Severity,
		"sent-at":                         m.SentAt,
		"priority":                        0,
	}
	for _, u := range m.Users {
		h["fedora_messaging_user_"+u] = true
	}
	return h
}

// Change is what a status change wrote, as the message builder needs it.
type Change struct {
	Outcome    status.Outcome
	Board      *status.Board  // after the change
	PrevNotice *status.Notice // the notice before the change
	Actor      string         // "network:account", "" for nocbot itself
	Source     string         // irc, matrix, console, scheduler, alert
	At         time.Time
}

// Builder makes messages for one deployment (for the links) and checks
// each against its schema before it is stored.
type Builder struct {
	pageURL string
	v       *Validator
}

// NewBuilder returns a builder whose links point under pageURL.
func NewBuilder(pageURL string) (*Builder, error) {
	v, err := NewValidator()
	if err != nil {
		return nil, err
	}
	return &Builder{pageURL: pageURL, v: v}, nil
}

// Build returns the messages for a change, in the order they must be
// published: one per incident or maintenance touched, or one for the
// notice.
func (bl *Builder) Build(c Change) ([]Message, error) {
	var out []Message
	for _, id := range c.Outcome.IDs {
		in, ok := c.Board.Find(id)
		if !ok || len(in.Updates) == 0 {
			continue
		}
		m, err := bl.incident(c, in)
		if err != nil {
			return nil, err
		}
		if err := bl.v.Validate(m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if len(c.Outcome.IDs) == 0 {
		if m, ok, err := bl.notice(c); err != nil {
			return nil, err
		} else if ok {
			if err := bl.v.Validate(m); err != nil {
				return nil, err
			}
			out = append(out, m)
		}
	}
	return out, nil
}

// Enqueuer is the part of a store transaction that holds outbox records.
type Enqueuer interface {
	Enqueue(box, id string, payload []byte) (bool, error)
}

// Enqueue builds the change's messages and stores them in the caller's
// transaction. A message whose cause is stored already is skipped.
func (bl *Builder) Enqueue(tx Enqueuer, c Change) (int, error) {
	msgs, err := bl.Build(c)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range msgs {
		data, err := Encode(m)
		if err != nil {
			return n, fmt.Errorf("encode message %s: %w", m.Cause, err)
		}
		added, err := tx.Enqueue(Box, m.Cause, data)
		if err != nil {
			return n, fmt.Errorf("enqueue message %s: %w", m.Cause, err)
		}
		if added {
			n++
		}
	}
	return n, nil
}

// Encode is the stored form of a message. The body keeps its bytes (no
// HTML escapes added), so what is published is what was built.
func Encode(m Message) ([]byte, error) { return marshal(m) }

// Decode reads a stored message.
func Decode(payload []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(payload, &m); err != nil {
		return m, fmt.Errorf("decode message: %w", err)
	}
	if m.ID == "" || m.Topic == "" || len(m.Body) == 0 {
		return m, fmt.Errorf("decode message %q: missing id, topic or body", m.Cause)
	}
	return m, nil
}

// MessageID makes the message id from the cause: a UUID with the version
// 4 and variant bits set (the wire format asks for v4), its other bits
// from a hash of the cause, so the same event always gets the same id and
// a consumer can drop a duplicate.
func MessageID(cause string) string {
	h := sha256.Sum256([]byte("nocbot-message:" + cause))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// SentAt formats a time the way fedora-messaging does: UTC, whole
// seconds, "+00:00" offset (datanommer keys duplicates on it).
func SentAt(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05") + "+00:00"
}

func timeOrNil(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := SentAt(t)
	return &s
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// agent is the account of an identity ("irc:jdoe" -> "jdoe").
func agent(identity string) string {
	if _, acct, ok := strings.Cut(identity, ":"); ok {
		return acct
	}
	return identity
}

func source(s string) string {
	switch s {
	case "irc", "matrix", "console", "scheduler", "alert":
		return s
	}
	return "console" // another local transport: the schema's closed list has no better word
}

type component struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

type update struct {
	At     string  `json:"at"`
	Status string  `json:"status"`
	Text   string  `json:"text"`
	Author *string `json:"author"`
}

type incidentBody struct {
	Summary  string       `json:"summary"`
	Incident *incidentObj `json:"incident,omitempty"`
	Maint    *maintObj    `json:"maintenance,omitempty"`
	Update   update       `json:"update"`
	Agent    *string      `json:"agent"`
	Source   string       `json:"source"`
}

type incidentObj struct {
	ID         string      `json:"id"`
	Title      string      `json:"title"`
	Impact     string      `json:"impact"`
	Status     string      `json:"status"`
	StartedAt  string      `json:"started_at"`
	ResolvedAt *string     `json:"resolved_at"`
	URL        string      `json:"url"`
	TicketURL  *string     `json:"ticket_url"`
	Components []component `json:"components"`
}

type maintObj struct {
	ID             string      `json:"id"`
	Title          string      `json:"title"`
	Status         string      `json:"status"`
	ScheduledFor   *string     `json:"scheduled_for"`
	ScheduledUntil *string     `json:"scheduled_until"`
	URL            string      `json:"url"`
	TicketURL      *string     `json:"ticket_url"`
	Components     []component `json:"components"`
}

func (bl *Builder) url(id string) string {
	return strings.TrimSuffix(bl.pageURL, "/") + "/incidents/" + id + ".html"
}

// topicOf tells which lifecycle step the newest update is.
func topicOf(in *status.Incident) string {
	n := len(in.Updates)
	last := in.Updates[n-1]
	prev := status.Phase("")
	if n > 1 {
		prev = in.Updates[n-2].Status
	}
	if in.Kind == status.KindMaintenance {
		switch {
		case n == 1 && last.Status == status.Scheduled:
			return MaintenanceSchedule
		case n == 1 || (last.Status == status.InProgress && prev == status.Scheduled):
			return MaintenanceStart
		case last.Status == status.Completed && prev == status.Scheduled:
			return MaintenanceCancel // completed before it ever started
		case last.Status == status.Completed && prev != status.Completed:
			return MaintenanceComplete
		}
		return MaintenanceUpdate
	}
	switch {
	case n == 1:
		return IncidentOpen
	case last.Status == status.Resolved && prev != status.Resolved:
		return IncidentResolve
	}
	return IncidentUpdate
}

func (bl *Builder) incident(c Change, in *status.Incident) (Message, error) {
	last := in.Updates[len(in.Updates)-1]
	topic := topicOf(in)
	who := agent(c.Actor)
	var comps []component
	var parts []string
	for _, id := range in.Order {
		name := id
		if comp, ok := c.Board.Catalogue.Get(id); ok {
			name = comp.Name
		}
		st := string(in.Components[id])
		comps = append(comps, component{ID: id, Name: name, Status: st})
		parts = append(parts, id+" "+st)
	}
	if comps == nil {
		comps = []component{}
	}
	body := incidentBody{
		Update: update{At: SentAt(last.At), Status: string(last.Status), Text: last.Text, Author: strOrNil(agent(last.Author))},
		Agent:  strOrNil(who), Source: source(c.Source),
	}
	var ticket *string
	if in.Ticket != nil {
		ticket = strOrNil(in.Ticket.URL)
	}
	sev := SeverityInfo
	subject := who
	if subject == "" {
		subject = "nocbot"
	}
	if in.Kind == status.KindMaintenance {
		st := string(in.Status)
		if topic == MaintenanceCancel {
			st = "cancelled"
		}
		body.Maint = &maintObj{ID: in.ID, Title: in.Title, Status: st,
			ScheduledFor: timeOrNil(in.ScheduledFor), ScheduledUntil: timeOrNil(in.ScheduledUntil),
			URL: bl.url(in.ID), TicketURL: ticket, Components: comps}
		body.Summary = maintenanceSummary(topic, in, who)
	} else {
		impact := string(in.Impact)
		if impact == string(status.ImpactMaintenance) || impact == "" {
			impact = string(status.ImpactNone)
		}
		body.Incident = &incidentObj{ID: in.ID, Title: in.Title, Impact: impact, Status: string(in.Status),
			StartedAt: SentAt(in.StartedAt), ResolvedAt: timeOrNil(in.ResolvedAt),
			URL: bl.url(in.ID), TicketURL: ticket, Components: comps}
		switch topic {
		case IncidentOpen:
			body.Summary = fmt.Sprintf("%s opened incident %q (%s): %s", subject, in.Title, impact, strings.Join(parts, ", "))
		case IncidentResolve:
			body.Summary = fmt.Sprintf("%s resolved incident %q after %s", subject, in.Title, duration(in.ResolvedAt.Sub(in.StartedAt)))
		default:
			body.Summary = fmt.Sprintf("%s updated incident %q (%s): %s", subject, in.Title, impact, strings.Join(parts, ", "))
		}
		if topic != IncidentResolve && (in.Impact == status.ImpactMajor || in.Impact == status.ImpactCritical) {
			sev = SeverityWarning
		}
	}
	data, err := marshal(body)
	if err != nil {
		return Message{}, fmt.Errorf("encode %s body of %s: %w", topic, in.ID, err)
	}
	cause := "incident/" + in.ID + "/" + last.ID
	m := Message{ID: MessageID(cause), Topic: topic, Severity: sev, SentAt: SentAt(c.At), Body: data, Cause: cause}
	if who != "" {
		m.Users = []string{who}
	}
	return m, nil
}

func maintenanceSummary(topic string, in *status.Incident, who string) string {
	ids := strings.Join(in.Order, ", ")
	var s string
	switch topic {
	case MaintenanceSchedule:
		s = fmt.Sprintf("Maintenance %q planned for %s", in.Title, window(in))
	case MaintenanceStart:
		s = fmt.Sprintf("Maintenance %q started", in.Title)
		if !in.ScheduledUntil.IsZero() {
			s += " (until " + in.ScheduledUntil.UTC().Format("15:04") + " UTC)"
		}
	case MaintenanceComplete:
		s = fmt.Sprintf("Maintenance %q completed", in.Title)
	case MaintenanceCancel:
		s = fmt.Sprintf("Maintenance %q cancelled", in.Title)
	default:
		s = fmt.Sprintf("Maintenance %q updated", in.Title)
	}
	if ids != "" {
		s += ": " + ids
	}
	if who != "" {
		s += " (by " + who + ")"
	}
	return s
}

func window(in *status.Incident) string {
	from := in.ScheduledFor
	if from.IsZero() {
		from = in.StartedAt
	}
	s := from.UTC().Format("2006-01-02 15:04")
	if !in.ScheduledUntil.IsZero() {
		s += "–" + in.ScheduledUntil.UTC().Format("15:04")
	}
	return s + " UTC"
}

// marshal encodes a body without HTML escapes: "<b>" stays "<b>" in the
// JSON, as any other JSON producer would write it.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// duration prints 45m, 3h05m or 2d04h, like the chat replies.
func duration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

type noticeBody struct {
	Summary string    `json:"summary"`
	Notice  noticeObj `json:"notice"`
	Agent   *string   `json:"agent"`
	Source  string    `json:"source"`
}

type noticeObj struct {
	Text      string  `json:"text"`
	ExpiresAt *string `json:"expires_at"`
	URL       string  `json:"url"`
}

func (bl *Builder) notice(c Change) (Message, bool, error) {
	who := agent(c.Actor)
	subject := who
	if subject == "" {
		subject = "nocbot"
	}
	n, topic := c.Board.Notice, NoticeSet
	var cause, summary string
	switch {
	case n != nil && n != c.PrevNotice:
		cause = fmt.Sprintf("notice/set/%d", n.SetAt.UnixNano())
		summary = subject + " set the page notice: " + n.Text
	case n == nil && c.PrevNotice != nil:
		n, topic = c.PrevNotice, NoticeClear
		cause = fmt.Sprintf("notice/clear/%d/%d", n.SetAt.UnixNano(), c.At.UnixNano())
		summary = subject + " cleared the page notice"
	default:
		return Message{}, false, nil
	}
	body := noticeBody{Summary: summary, Agent: strOrNil(who), Source: source(c.Source),
		Notice: noticeObj{Text: n.Text, ExpiresAt: timeOrNil(n.Expires), URL: bl.pageURL}}
	data, err := marshal(body)
	if err != nil {
		return Message{}, false, fmt.Errorf("encode %s body: %w", topic, err)
	}
	m := Message{ID: MessageID(cause), Topic: topic, Severity: SeverityInfo, SentAt: SentAt(c.At), Body: data, Cause: cause}
	if who != "" {
		m.Users = []string{who}
	}
	return m, true, nil
}
