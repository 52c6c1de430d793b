package fasjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// errNotFound is FASJSON's 404: no such user (or a locked one), no such group.
var errNotFound = errors.New("not found")

// maxPages bounds how far a listing is followed (40 results a page).
const maxPages = 10

// api speaks FASJSON v1: every call authenticated with SPNEGO.
type api struct {
	base   *url.URL // ends in "/"
	client *http.Client
	auth   interface{ authorize(*http.Request) error }
	// onCall sees every HTTP round trip (for the latency metric).
	onCall func(time.Duration, error)
}

type page struct {
	PageNumber int `json:"page_number"`
	TotalPages int `json:"total_pages"`
}

// get fetches /v1/<path> into out (the "result" of the body). fields is
// the X-Fields mask that keeps the answer small.
func (a *api) get(ctx context.Context, path string, query url.Values, fields string, out any) (*page, error) {
	u := a.base.JoinPath("v1", path) // keeps a trailing slash, which FASJSON's resources need
	u.RawQuery = query.Encode()
	var resp *http.Response
	// One retry on 401 with a fresh authenticator: FASJSON answers
	// "Re-authentication is necessary" when it wants a new one. Never more
	// (gokrb5's own spnego.Client would loop).
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("fasjson %s: %w", path, err)
		}
		req.Header.Set("Accept", "application/json")
		if fields != "" {
			req.Header.Set("X-Fields", fields)
		}
		if err := a.auth.authorize(req); err != nil {
			return nil, fmt.Errorf("fasjson %s: %w", path, err)
		}
		start := time.Now()
		resp, err = a.client.Do(req)
		if a.onCall != nil {
			a.onCall(time.Since(start), err)
		}
		if err != nil {
			return nil, fmt.Errorf("fasjson %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt == 1 {
			break
		}
		drain(resp)
	}
	defer drain(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("fasjson %s: reading the answer: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("fasjson %s: %w", path, errNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fasjson %s: %s: %s", path, resp.Status, errorMessage(body))
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Page   *page           `json:"page"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("fasjson %s: decoding the answer: %w", path, err)
	}
	if err := json.Unmarshal(env.Result, out); err != nil {
		return nil, fmt.Errorf("fasjson %s: decoding the result: %w", path, err)
	}
	return env.Page, nil
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// errorMessage is the "message" of an error body, made one plain line.
func errorMessage(body []byte) string {
	var e struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return oneLine(e.Message)
	}
	return oneLine(string(body))
}

func oneLine(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// isMember asks GET /v1/groups/<group>/is-member/<user> (no trailing
// slash). An unknown group is no membership.
func (a *api) isMember(ctx context.Context, group, user string) (bool, error) {
	var member bool
	_, err := a.get(ctx, "groups/"+url.PathEscape(group)+"/is-member/"+url.PathEscape(user), nil, "", &member)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return member, err
}

// userExists asks GET /v1/users/<user>/; a locked account is a 404.
func (a *api) userExists(ctx context.Context, user string) (bool, error) {
	var u struct {
		Username string `json:"username"`
	}
	_, err := a.get(ctx, "users/"+url.PathEscape(user)+"/", nil, "{username}", &u)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return u.Username == user, nil
}

// searchNick returns the accounts whose chat nicknames include uri
// exactly, following the pages.
func (a *api) searchNick(ctx context.Context, uri string) ([]string, error) {
	var names []string
	for n := 1; n <= maxPages; n++ {
		q := url.Values{"ircnick__exact": {uri}}
		if n > 1 {
			q.Set("page_number", strconv.Itoa(n))
		}
		var users []struct {
			Username string `json:"username"`
		}
		p, err := a.get(ctx, "search/users/", q, "{username}", &users)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			names = append(names, u.Username)
		}
		if p == nil || p.PageNumber >= p.TotalPages {
			return names, nil
		}
	}
	return names, nil
}

// me asks GET /v1/me/: who FASJSON thinks we are (the readiness probe).
func (a *api) me(ctx context.Context) (string, error) {
	var m struct {
		Service  *string `json:"service"`
		Username *string `json:"username"`
	}
	if _, err := a.get(ctx, "me/", nil, "", &m); err != nil {
		return "", err
	}
	switch {
	case m.Service != nil:
		return *m.Service, nil
	case m.Username != nil:
		return *m.Username, nil
	}
	return "", errors.New("fasjson me/: neither a service nor a user")
}
