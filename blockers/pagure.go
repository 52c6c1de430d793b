package blockers

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Issue is what the sync reads of a Pagure discussion ticket.
type Issue struct {
	ID       int       `json:"id"`
	Title    string    `json:"title"`
	Content  string    `json:"content"`
	Status   string    `json:"status"`
	FullURL  string    `json:"full_url"`
	Comments []Comment `json:"comments"`
}

// Comment is one comment of an issue.
type Comment struct {
	ID           int    `json:"id"`
	Comment      string `json:"comment"`
	Notification bool   `json:"notification"` // Pagure's "Metadata Update" entries
	User         struct {
		Name string `json:"name"`
	} `json:"user"`
}

// Pagure reads issues through Pagure's API v0.
type Pagure struct{ r *rest }

// NewPagure returns a client for the server at base (https://pagure.io).
func NewPagure(base string, o HTTPOptions) (*Pagure, error) {
	r, err := newREST("pagure", base, o)
	if err != nil {
		return nil, err
	}
	return &Pagure{r: r}, nil
}

// Requests is how many HTTP requests the client made (retries included).
func (c *Pagure) Requests() int64 { return c.r.requests.Load() }

// perPage is Pagure's largest page (its default is 20).
const perPage = 100

// Issues lists the issues of repo ("fedora-qa/blocker-review"), open and
// closed, updated since the given time, with their comments, page by
// page until pagination.next is null. Every issue carries all its
// comments, so since keeps the answer small.
func (c *Pagure) Issues(ctx context.Context, repo string, since time.Time) ([]Issue, error) {
	var out []Issue
	for page := 1; ; page++ {
		q := url.Values{"status": {"all"}, "since": {strconv.FormatInt(since.Unix(), 10)},
			"per_page": {strconv.Itoa(perPage)}, "page": {strconv.Itoa(page)}}
		var res struct {
			Issues     []Issue `json:"issues"`
			Pagination struct {
				Next  *string `json:"next"`
				Pages int     `json:"pages"`
			} `json:"pagination"`
		}
		if err := c.r.get(ctx, "/api/0/"+strings.Trim(repo, "/")+"/issues", q, &res); err != nil {
			return nil, fmt.Errorf("list issues of %s: %w", repo, err)
		}
		out = append(out, res.Issues...)
		if res.Pagination.Next == nil || len(res.Issues) == 0 || page >= res.Pagination.Pages {
			return out, nil
		}
	}
}

// bugLink finds the bug a ticket discusses: blockerbot writes its link in
// the description; the title format is not relied on.
var bugLink = regexp.MustCompile(`show_bug\.cgi\?id=(\d+)`)

// BugID is the bug the issue discusses, or 0.
func (i Issue) BugID() int {
	m := bugLink.FindStringSubmatch(i.Content)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// Tally is the votes on one tracker: +1, 0 and -1 counts.
type Tally struct {
	Up   int `json:"up"`
	Zero int `json:"zero"`
	Down int `json:"down"`
}

func (t Tally) String() string { return fmt.Sprintf("+%d/%d/-%d", t.Up, t.Zero, t.Down) }

// Vote trackers as the review README names them, lower case, mapped to
// one spelling.
var voteTrackers = map[string]string{
	"betablocker": "BetaBlocker", "finalblocker": "FinalBlocker",
	"betafreezeexception": "BetaFE", "betafe": "BetaFE",
	"finalfreezeexception": "FinalFE", "finalfe": "FinalFE",
	"0day": "0Day", "previousrelease": "PreviousRelease",
}

// Votes tallies the votes in an issue's comments under the review
// grammar: a line made only of "TRACKER VOTE" or "VOTE TRACKER" pairs
// (several may share a line), VOTE one of +1, 0, -1; a line with any
// other word counts for nothing; Pagure's notification comments and
// blockerbot's own are ignored; a user's last vote per tracker wins.
func (i Issue) Votes(bot string) map[string]Tally {
	last := map[string]map[string]int{} // tracker -> user -> vote
	for _, c := range i.Comments {
		if c.Notification || c.User.Name == bot {
			continue
		}
		for _, line := range strings.Split(c.Comment, "\n") {
			for tr, v := range voteLine(line) {
				if last[tr] == nil {
					last[tr] = map[string]int{}
				}
				last[tr][c.User.Name] = v
			}
		}
	}
	out := map[string]Tally{}
	for tr, users := range last {
		var t Tally
		for _, v := range users {
			switch v {
			case 1:
				t.Up++
			case 0:
				t.Zero++
			default:
				t.Down++
			}
		}
		out[tr] = t
	}
	return out
}

// voteLine reads the votes of one line, or nil when it is not a vote line.
func voteLine(line string) map[string]int {
	f := strings.Fields(line)
	if len(f) == 0 || len(f)%2 != 0 {
		return nil
	}
	out := map[string]int{}
	for k := 0; k < len(f); k += 2 {
		a, b := f[k], f[k+1]
		tr, ok := voteTrackers[strings.ToLower(a)]
		vote := b
		if !ok {
			tr, ok = voteTrackers[strings.ToLower(b)]
			vote = a
		}
		v, vok := map[string]int{"+1": 1, "0": 0, "-1": -1}[vote]
		if !ok || !vok {
			return nil
		}
		out[tr] = v
	}
	return out
}
