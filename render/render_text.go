package render

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Text from chat is plain text. It is escaped everywhere; the only markup
// added to it is links for http(s) URLs and "#1234" ticket references,
// built here from escaped pieces. HTML an operator pasted (the 2013
// "<a href='…'>#4453</a>") shows as text, with its ticket number linked.

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }

// linkify escapes text and links its URLs and ticket references.
func (m *model) linkify(s string) template.HTML {
	var sb strings.Builder
	sb.Grow(len(s) + len(s)/4)
	for i := 0; i < len(s); {
		start, end, href := m.nextLink(s, i)
		if start < 0 {
			sb.WriteString(htmlEscape(s[i:]))
			break
		}
		sb.WriteString(htmlEscape(s[i:start]))
		sb.WriteString(`<a href="`)
		sb.WriteString(htmlEscape(fragmentSafe(href)))
		sb.WriteString(`">`)
		sb.WriteString(htmlEscape(s[start:end]))
		sb.WriteString(`</a>`)
		i = end
	}
	return template.HTML(sb.String())
}

// nextLink finds the next URL or ticket reference at or after i and
// returns its byte range and target, or start -1.
func (m *model) nextLink(s string, i int) (start, end int, href string) {
	for j := i; j < len(s); j++ {
		switch s[j] {
		case 'h', 'H':
			if e, ok := urlAt(s, j); ok {
				return j, e, s[j:e]
			}
		case '#':
			if e, ok := ticketAt(s, j); ok && m.site.TicketsURL != "" {
				return j, e, m.site.TicketsURL + "/" + s[j+1:e]
			}
		}
	}
	return -1, -1, ""
}

// urlAt recognises an http(s) URL starting at j. It ends at white space or
// a character that cannot be part of an unquoted URL in prose, minus the
// trailing punctuation of the sentence around it.
func urlAt(s string, j int) (int, bool) {
	if j > 0 && isWordByte(s[j-1]) {
		return 0, false
	}
	rest := strings.ToLower(s[j:min(len(s), j+8)])
	if !strings.HasPrefix(rest, "http://") && !strings.HasPrefix(rest, "https://") {
		return 0, false
	}
	e := j
	for e < len(s) && !strings.ContainsRune(" \t\n\r<>\"'`{}|\\^", rune(s[e])) {
		e++
	}
	for e > j && strings.ContainsRune(".,;:!?", rune(s[e-1])) ||
		(e > j && s[e-1] == ')' && strings.Count(s[j:e], "(") < strings.Count(s[j:e], ")")) {
		e--
	}
	if _, ok := webURL(s[j:e]); !ok {
		return 0, false
	}
	return e, true
}

// ticketAt recognises "#1234" at j: digits only, not inside a word, an
// entity or a URL fragment.
func ticketAt(s string, j int) (int, bool) {
	if j > 0 && (isWordByte(s[j-1]) || strings.IndexByte("&/#", s[j-1]) >= 0) {
		return 0, false
	}
	e := j + 1
	for e < len(s) && e-j <= 8 && s[e] >= '0' && s[e] <= '9' {
		e++
	}
	if e == j+1 || e-j > 8 || (e < len(s) && isWordByte(s[e])) {
		return 0, false
	}
	return e, true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// timeHTML is a UTC time for people and machines; the optional script
// rewrites the text to local time.
func timeHTML(t time.Time) template.HTML {
	t = t.UTC()
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `">` + plainTime(t) + `</time>`)
}

// dateHTML is a UTC calendar date.
func dateHTML(t time.Time) template.HTML {
	d := t.UTC().Format(time.DateOnly)
	return template.HTML(`<time datetime="` + d + `">` + d + `</time>`)
}

// safeLinkURL admits the schemes a chat or site link may use. html/template
// would otherwise blank irc: and matrix: links; anything else is dropped.
func safeLinkURL(raw string) (template.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	switch u.Scheme {
	case "http", "https", "irc", "ircs", "matrix", "mailto":
		return template.URL(fragmentSafe(raw)), true
	}
	return "", false
}

// fragmentSafe encodes every "#" after the first as %23: a fragment may
// not contain "#" in valid HTML (matrix.to/#/#room), and browsers and
// matrix.to decode %23 to the same room.
func fragmentSafe(u string) string {
	i := strings.IndexByte(u, '#')
	if i < 0 || !strings.Contains(u[i+1:], "#") {
		return u
	}
	return u[:i+1] + strings.ReplaceAll(u[i+1:], "#", "%23")
}

// rfc822 is the RSS 2.0 date form.
func rfc822(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

// duration says how long something lasted, in words for the page.
func duration(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	var parts []string
	if days > 0 {
		parts = append(parts, strconv.Itoa(days)+" d")
	}
	if hours > 0 {
		parts = append(parts, strconv.Itoa(hours)+" h")
	}
	if mins > 0 && days == 0 {
		parts = append(parts, strconv.Itoa(mins)+" min")
	}
	return strings.Join(parts, " ")
}
