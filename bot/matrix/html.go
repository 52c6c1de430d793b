package matrix

import (
	"html"
	"strings"
)

// replyHTML is the HTML version of a reply: every character from chat or
// the board escaped, http(s) links made clickable, and a run of two or
// more incident lines ("#12 …", as !history and !status --all give) shown
// as a compact list instead of a wall of lines. Other lines are joined
// with <br>, as the plain body shows them.
func replyHTML(lines []string) string {
	var b strings.Builder
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && isItem(lines[j]) {
			j++
		}
		if j-i >= 2 {
			b.WriteString("<ul>")
			for _, l := range lines[i:j] {
				b.WriteString("<li>" + linkify(l) + "</li>")
			}
			b.WriteString("</ul>")
			i = j
			continue
		}
		if i > 0 && !strings.HasSuffix(b.String(), "</ul>") {
			b.WriteString("<br>")
		}
		b.WriteString(linkify(lines[i]))
		i++
	}
	return b.String()
}

// isItem reports whether a line is one incident of a listing: "#" and
// digits, then a space.
func isItem(l string) bool {
	n := 1
	for n < len(l) && l[n] >= '0' && l[n] <= '9' {
		n++
	}
	return len(l) > n && l[0] == '#' && n > 1 && l[n] == ' '
}

// linkify escapes a line and turns its http(s) URLs into links. A URL ends
// at a space or a closing parenthesis; trailing punctuation is left out.
func linkify(l string) string {
	var b strings.Builder
	for {
		i := strings.Index(l, "https://")
		if k := strings.Index(l, "http://"); k >= 0 && (i < 0 || k < i) {
			i = k
		}
		if i < 0 {
			b.WriteString(html.EscapeString(l))
			return b.String()
		}
		end := i + strings.IndexAny(l[i:]+" ", " )")
		u := strings.TrimRight(l[i:end], ".,;:!?")
		b.WriteString(html.EscapeString(l[:i]))
		if strings.TrimRight(u, "/:") == "https" || strings.TrimRight(u, "/:") == "http" {
			b.WriteString(html.EscapeString(u)) // a bare scheme is no link
		} else {
			b.WriteString(`<a href="` + html.EscapeString(u) + `">` + html.EscapeString(u) + `</a>`)
		}
		l = l[i+len(u):]
	}
}
