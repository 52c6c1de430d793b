package blockers

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/fedora-infra/nocbot/internal/backoff"
)

// APIError is a refusal from Bugzilla or Pagure: the HTTP status plus what
// the body said ({"error":true,"code":100,"message":…} on Bugzilla,
// {"error":"…","error_code":"ENOISSUE"} on Pagure).
type APIError struct {
	Service string // "bugzilla" or "pagure"
	URL     string // without the query, which may be long
	Status  int
	Code    string // Bugzilla's numeric code or Pagure's error_code
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Service, e.URL, e.Status)
	if e.Code != "" {
		msg += " code " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// retryable reports whether a status may succeed on a later try: rate
// limited, or a proxy or server in trouble (rhbz answers 503 to queries
// it kills after about two minutes).
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// HTTPOptions are what both clients share. Zero values get the defaults.
type HTTPOptions struct {
	// Client does the requests; a client with a 60 s timeout when nil.
	Client *http.Client
	// UserAgent names nocbot to the servers.
	UserAgent string
	// Auth is the Authorization header value ("Bearer <key>"); empty
	// sends none.
	Auth string
	// Interval is the least time between two requests to one server
	// (1 s when zero: the trackers are shared); tests set it lower, and
	// a negative one does not pace at all.
	Interval time.Duration
	// Attempts is how many times a request is tried (3).
	Attempts int
	// Backoff is the wait before a retry when the server gave no
	// Retry-After (2 s doubling to 30 s, jittered).
	Backoff backoff.Policy
	// MaxRetryAfter caps a server's Retry-After (2 min), so a run keeps
	// within its timeout.
	MaxRetryAfter time.Duration
	// Sleep waits before a retry (a timer when nil); tests record it.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o *HTTPOptions) defaults() {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 60 * time.Second}
	}
	if o.UserAgent == "" {
		o.UserAgent = "nocbot (+https://github.com/fedora-infra/nocbot)"
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff.Min == 0 {
		o.Backoff = backoff.Policy{Min: 2 * time.Second, Max: 30 * time.Second}
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 2 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = func(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, nil, d) }
	}
}

// rest is one server's JSON-over-HTTP client: paced, retried, counted.
type rest struct {
	service string
	base    *url.URL
	opts    HTTPOptions

	mu   sync.Mutex // paces requests: one at a time, Interval apart
	last time.Time

	requests atomic.Int64 // every attempt, for !blockers status and the benchmark
}

func newREST(service, base string, o HTTPOptions) (*rest, error) {
	o.defaults()
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%s url %q: not an absolute URL", service, base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &rest{service: service, base: u, opts: o}, nil
}

// pace waits until Interval has passed since the previous request.
func (r *rest) pace(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if wait := r.opts.Interval - time.Since(r.last); r.opts.Interval > 0 && wait > 0 && !r.last.IsZero() {
		if err := backoff.Sleep(ctx, nil, wait); err != nil {
			return err
		}
	}
	r.last = time.Now()
	return nil
}

// get fetches base+path?query into out, retrying transport errors and
// retryable statuses; a Retry-After from the server is honoured (capped).
func (r *rest) get(ctx context.Context, path string, query url.Values, out any) error {
	u := *r.base
	u.Path += path
	u.RawQuery = query.Encode()
	bo := backoff.New(r.opts.Backoff)
	var last error
	for attempt := 0; attempt < r.opts.Attempts; attempt++ {
		if attempt > 0 {
			wait := bo.Next()
			var ra retryAfter
			if errors.As(last, &ra) && ra.d > 0 {
				wait = min(ra.d, r.opts.MaxRetryAfter)
			}
			if err := r.opts.Sleep(ctx, wait); err != nil {
				return fmt.Errorf("%s: waiting to retry after %w: %w", r.service, last, err)
			}
		}
		err := r.once(ctx, u.String(), out)
		if err == nil {
			return nil
		}
		last = err
		var ae *APIError
		if errors.As(err, &ae) && !retryable(ae.Status) || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("%s: gave up after %d attempts: %w", r.service, r.opts.Attempts, last)
}

// retryAfter carries a server's Retry-After with the error it came with.
type retryAfter struct {
	error
	d time.Duration
}

func (e retryAfter) Unwrap() error { return e.error }

func (r *rest) once(ctx context.Context, u string, out any) error {
	if err := r.pace(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s: build request: %w", r.service, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", r.opts.UserAgent)
	if r.opts.Auth != "" {
		req.Header.Set("Authorization", r.opts.Auth)
	}
	r.requests.Add(1)
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", r.service, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", r.service, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		ae := r.apiError(req.URL, resp.StatusCode, body)
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			return retryAfter{error: ae, d: d}
		}
		return ae
	}
	// A 200 can still carry Bugzilla's error object.
	var probe struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(body, &probe) == nil && probe.Error == true {
		return r.apiError(req.URL, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: decode %s: %w", r.service, req.URL.Path, err)
	}
	return nil
}

// apiError reads whichever error shape the body has; a non-JSON body (a
// proxy's HTML page) leaves only the status.
func (r *rest) apiError(u *url.URL, status int, body []byte) *APIError {
	e := &APIError{Service: r.service, URL: u.Scheme + "://" + u.Host + u.Path, Status: status}
	var bz struct {
		Error     any             `json:"error"`
		Code      json.RawMessage `json:"code"`
		Message   string          `json:"message"`
		ErrorCode string          `json:"error_code"`
	}
	if json.Unmarshal(body, &bz) != nil {
		return e
	}
	e.Code = strings.Trim(string(bz.Code), `"`)
	e.Message = bz.Message
	if s, ok := bz.Error.(string); ok { // Pagure
		e.Message, e.Code = s, bz.ErrorCode
	}
	e.Message = plain(e.Message, 200)
	return e
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// flexInt decodes a number sent as a JSON number or a string (RH
// Bugzilla's limit, offset and total_matches come as either).
type flexInt int

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = flexInt(n)
	return nil
}
