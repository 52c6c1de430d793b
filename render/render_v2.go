package render

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/fedora-infra/nocbot/status"
)

// Statuspage v2 documents. Every key the real API serves is present, nulls
// included (pointers), because aggregators and menubar apps index into
// them without checking; nothing else is added.

type v2Page struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	URL       string `json:"url"`
	TimeZone  string `json:"time_zone"`
	UpdatedAt string `json:"updated_at"`
}

type v2Status struct {
	Indicator   string `json:"indicator"`
	Description string `json:"description"`
}

type v2Component struct {
	ID                 string   `json:"id"`
	Name               string   `json:"name"`
	Status             string   `json:"status"`
	CreatedAt          string   `json:"created_at"`
	UpdatedAt          string   `json:"updated_at"`
	Position           int      `json:"position"`
	Description        *string  `json:"description"`
	Showcase           bool     `json:"showcase"`
	StartDate          *string  `json:"start_date"`
	GroupID            *string  `json:"group_id"`
	PageID             string   `json:"page_id"`
	Group              bool     `json:"group"`
	OnlyShowIfDegraded bool     `json:"only_show_if_degraded"`
	Components         []string `json:"components,omitempty"` // groups only
}

type v2Affected struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	OldStatus string `json:"old_status"`
	NewStatus string `json:"new_status"`
}

type v2Update struct {
	ID                   string       `json:"id"`
	Status               string       `json:"status"`
	Body                 string       `json:"body"`
	IncidentID           string       `json:"incident_id"`
	CreatedAt            string       `json:"created_at"`
	UpdatedAt            string       `json:"updated_at"`
	DisplayAt            string       `json:"display_at"`
	AffectedComponents   []v2Affected `json:"affected_components"` // null when none changed
	DeliverNotifications bool         `json:"deliver_notifications"`
	CustomTweet          *string      `json:"custom_tweet"`
	TweetID              *string      `json:"tweet_id"`
}

type v2Incident struct {
	ID              string        `json:"id"`
	Name            string        `json:"name"`
	Status          string        `json:"status"`
	CreatedAt       string        `json:"created_at"`
	UpdatedAt       string        `json:"updated_at"`
	MonitoringAt    *string       `json:"monitoring_at"`
	ResolvedAt      *string       `json:"resolved_at"`
	Impact          string        `json:"impact"`
	Shortlink       string        `json:"shortlink"`
	StartedAt       string        `json:"started_at"`
	PageID          string        `json:"page_id"`
	IncidentUpdates []v2Update    `json:"incident_updates"`
	Components      []v2Component `json:"components"`
}

type v2Maintenance struct {
	v2Incident
	ScheduledFor   *string `json:"scheduled_for"`
	ScheduledUntil *string `json:"scheduled_until"`
}

type v2Summary struct {
	Page                  v2Page          `json:"page"`
	Status                v2Status        `json:"status"`
	Components            []v2Component   `json:"components"`
	Incidents             []v2Incident    `json:"incidents"`
	ScheduledMaintenances []v2Maintenance `json:"scheduled_maintenances"`
}

type v2StatusDoc struct {
	Page   v2Page   `json:"page"`
	Status v2Status `json:"status"`
}

type v2ComponentsDoc struct {
	Page       v2Page        `json:"page"`
	Components []v2Component `json:"components"`
}

type v2IncidentsDoc struct {
	Page      v2Page       `json:"page"`
	Incidents []v2Incident `json:"incidents"`
}

type v2MaintenancesDoc struct {
	Page                  v2Page          `json:"page"`
	ScheduledMaintenances []v2Maintenance `json:"scheduled_maintenances"`
}

// v2Time is Statuspage's timestamp form: UTC, milliseconds, "Z".
func v2Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func v2TimePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := v2Time(t)
	return &s
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// v2Builder caches component objects, which every incident embeds.
type v2Builder struct {
	m     *model
	page  v2Page
	comps []v2Component
	byID  map[string]v2Component
}

func newV2Builder(m *model) *v2Builder {
	v := &v2Builder{m: m, byID: map[string]v2Component{}}
	v.page = v2Page{
		ID: m.site.PageID, Name: m.site.Title, URL: strings.TrimRight(m.site.URL, "/"),
		TimeZone: "Etc/UTC", UpdatedAt: v2Time(m.lastChange),
	}
	v.comps = v.components()
	for _, c := range v.comps {
		v.byID[c.ID] = c
	}
	return v
}

// components lists groups as components with member ids, each followed by
// its members, positions counting both, as Statuspage does.
func (v *v2Builder) components() []v2Component {
	m := v.m
	out := []v2Component{}
	created := v2Time(siteEpoch)
	for _, g := range m.groups() {
		var gid *string
		if g.Name != "" {
			id := "group-" + g.Slug
			gid = &id
			ids := make([]string, len(g.Members))
			updated := siteEpoch
			for i, c := range g.Members {
				ids[i] = c.ID
				if t := m.compUpdated[c.ID]; t.After(updated) {
					updated = t
				}
			}
			out = append(out, v2Component{
				ID: id, Name: g.Name, Status: string(m.groupStatus(g.Members)),
				CreatedAt: created, UpdatedAt: v2Time(updated), Position: len(out) + 1,
				PageID: m.site.PageID, Group: true, Components: ids,
			})
		}
		for _, c := range g.Members {
			updated := siteEpoch
			if t := m.compUpdated[c.ID]; t.After(updated) {
				updated = t
			}
			out = append(out, v2Component{
				ID: c.ID, Name: c.Name, Status: string(m.componentStatus(c.ID)),
				CreatedAt: created, UpdatedAt: v2Time(updated), Position: len(out) + 1,
				Description: strPtr(c.URL), Showcase: true, GroupID: gid, PageID: m.site.PageID,
			})
		}
	}
	return out
}

func (v *v2Builder) incident(in *status.Incident) v2Incident {
	m := v.m
	out := v2Incident{
		ID: in.ID, Name: in.Title, Status: string(in.Status),
		CreatedAt: v2Time(in.CreatedAt), UpdatedAt: v2Time(in.UpdatedAt()),
		ResolvedAt: v2TimePtr(in.ResolvedAt), Impact: string(in.Impact),
		Shortlink: m.permalink(in), StartedAt: v2Time(startOf(in)), PageID: m.site.PageID,
		IncidentUpdates: make([]v2Update, 0, len(in.Updates)),
		Components:      []v2Component{},
	}
	for i := len(in.Updates) - 1; i >= 0; i-- {
		u := in.Updates[i]
		if u.Status == status.Monitoring {
			out.MonitoringAt = v2TimePtr(u.At) // ends as the first one, walking back
		}
		out.IncidentUpdates = append(out.IncidentUpdates, v.update(in, u))
	}
	for _, id := range in.Order {
		c, ok := v.byID[id]
		if !ok {
			continue // removed from the catalogue since
		}
		c.Components = nil
		out.Components = append(out.Components, c)
	}
	return out
}

func (v *v2Builder) update(in *status.Incident, u status.Update) v2Update {
	at := v2Time(u.At)
	out := v2Update{
		ID: u.ID, Status: string(u.Status), Body: u.Text, IncidentID: in.ID,
		CreatedAt: at, UpdatedAt: at, DisplayAt: at, DeliverNotifications: true,
	}
	for _, c := range u.Changes {
		out.AffectedComponents = append(out.AffectedComponents, v2Affected{
			Code: c.ID, Name: v.m.componentName(c.ID), OldStatus: string(c.Old), NewStatus: string(c.New),
		})
	}
	return out
}

func (v *v2Builder) maintenance(in *status.Incident) v2Maintenance {
	return v2Maintenance{
		v2Incident:     v.incident(in),
		ScheduledFor:   v2TimePtr(in.ScheduledFor),
		ScheduledUntil: v2TimePtr(v.m.expectedEnd(in)),
	}
}

func (v *v2Builder) incidents(ins []*status.Incident) []v2Incident {
	out := make([]v2Incident, 0, len(ins))
	for _, in := range ins {
		out = append(out, v.incident(in))
	}
	return out
}

func (v *v2Builder) maintenances(ins []*status.Incident) []v2Maintenance {
	out := make([]v2Maintenance, 0, len(ins))
	for _, in := range ins {
		out = append(out, v.maintenance(in))
	}
	return out
}

// renderV2 writes the api/v2 documents.
func renderV2(m *model) ([]File, error) {
	v := newV2Builder(m)
	st := v2Status{Indicator: m.indicator, Description: m.description}

	// The notice is left out of the incident lists: it has no phase and no
	// components and the indicator stays "none", yet clients count and list
	// unresolved incidents as outages. It stays on the HTML page.
	unresolved := v.incidents(m.open)
	upcoming := v.maintenances(m.scheduled)
	active := v.maintenances(m.running)
	current := append(append([]v2Maintenance{}, active...), upcoming...)
	// Statuspage's incidents.json holds every unresolved incident first.
	recentIncidents := v.incidents(limit(kindOf(m.all, status.KindIncident), listLimit))
	recentMaint := v.maintenances(limit(kindOf(m.all, status.KindMaintenance), listLimit))

	docs := []struct {
		path string
		doc  any
	}{
		{"api/v2/summary.json", v2Summary{v.page, st, v.comps, unresolved, current}},
		{"api/v2/status.json", v2StatusDoc{v.page, st}},
		{"api/v2/components.json", v2ComponentsDoc{v.page, v.comps}},
		{"api/v2/incidents.json", v2IncidentsDoc{v.page, recentIncidents}},
		{"api/v2/incidents/unresolved.json", v2IncidentsDoc{v.page, unresolved}},
		{"api/v2/scheduled-maintenances.json", v2MaintenancesDoc{v.page, recentMaint}},
		{"api/v2/scheduled-maintenances/upcoming.json", v2MaintenancesDoc{v.page, upcoming}},
		{"api/v2/scheduled-maintenances/active.json", v2MaintenancesDoc{v.page, active}},
	}
	files := make([]File, 0, len(docs))
	for _, d := range docs {
		body, err := json.Marshal(d.doc)
		if err != nil {
			return nil, err
		}
		files = append(files, newFile(d.path, body))
	}
	return files, nil
}
