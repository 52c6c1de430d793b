package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/robfig/cron/v3"

	"github.com/fedora-infra/nocbot/internal/mxid"
)

// Validate checks the whole configuration and returns every problem as *[Errors], with keys
// but no file positions (Parse adds those), or nil.
func (c *Config) Validate() error {
	var ps problems
	c.validate(&ps, nil)
	errs := make(Errors, len(ps))
	for i, p := range ps {
		errs[i] = FieldError{Key: p.at.String(), Msg: p.msg}
	}
	return errs.orNil()
}

func (c *Config) validate(ps *problems, caps *Capabilities) {
	v := check{ps}
	c.validateBot(v)
	c.validateComponents(v)
	c.validateGroups(v)
	c.validatePublisher(v)
	if spec := c.Scheduler.Republish; spec != "" {
		if _, err := cron.ParseStandard(spec); err != nil {
			v.add(path{"scheduler", "republish"}, "bad cron spec %q: %v", spec, err)
		}
	}
	if c.IRC != nil {
		c.IRC.validate(v, path{"irc"})
	}
	if c.Matrix != nil {
		c.Matrix.validate(v, path{"matrix"})
	}
	c.validateAnnounce(v)
	c.validateMessaging(v)
	c.validateSchedule(v)
	c.validateCtl(v)
	c.validateAlerts(v)
	c.validateBlockers(v)
	if caps == nil {
		// Without the binary's own list, the defaults name every permission the core commands use.
		caps = &Capabilities{Permissions: sortedKeys(Default().Permissions)}
	}
	c.validateCapabilities(v, caps)
}

func (c *Config) validateBot(v check) {
	b := path{"bot"}
	v.required(b.key("name"), c.Bot.Name)
	if v.required(b.key("prefix"), c.Bot.Prefix) && strings.ContainsFunc(c.Bot.Prefix, unicode.IsSpace) {
		v.add(b.key("prefix"), "must not contain spaces")
	}
	v.required(b.key("state"), c.Bot.State)
	v.atLeast(b.key("max_message"), c.Bot.MaxMessage, 1)
	v.positive(b.key("command_timeout"), c.Bot.CommandTimeout)
	if c.Bot.MaxCommandAge.Duration < 0 {
		v.add(b.key("max_command_age"), "must not be negative (0 runs commands however old)")
	}
	v.atLeast(b.key("max_reply_lines"), c.Bot.MaxReplyLines, 1)
	v.atLeast(b.key("channel_lines"), c.Bot.ChannelLines, 2) // a line of answer and the offer of the rest
	v.atLeast(b.key("rate_limit"), c.Bot.RateLimit, 1)
	v.atLeast(b.key("workers"), c.Bot.Workers, 1)

	v.oneOf(path{"log", "format"}, c.Log.Format, "text", "json")
	v.oneOf(path{"log", "level"}, c.Log.Level, "debug", "info", "warn", "error")

	if c.Web.Listen != "" {
		v.hostPort(path{"web", "listen"}, c.Web.Listen, false)
	}

	con := path{"console"}
	if v.required(con.key("network"), c.Console.Network) && !isNetworkName(c.Console.Network) {
		v.add(con.key("network"), "must be lowercase letters, digits and '-', starting with a letter")
	}
	if v.required(con.key("account"), c.Console.Account) && strings.ContainsFunc(c.Console.Account, unicode.IsSpace) {
		v.add(con.key("account"), "must not contain spaces")
	}
}

func (c *Config) validateComponents(v check) {
	at := path{"components"}
	if len(c.Components) == 0 {
		v.add(at, "at least one component is required")
		return
	}
	owner := map[string]string{} // id or alias -> the id of the component that has it
	first := map[string]int{}    // id -> index of its first component
	for i, comp := range c.Components {
		ci := at.index(i)
		if !v.componentID(ci.key("id"), comp.ID) {
			continue
		}
		if j, ok := first[comp.ID]; ok {
			v.add(ci.key("id"), "duplicate id %q (also components[%d])", comp.ID, j)
			continue
		}
		first[comp.ID] = i
		owner[comp.ID] = comp.ID
	}
	// Aliases after all ids, so that an alias shadowing a later id is caught as well.
	for i, comp := range c.Components {
		ci := at.index(i)
		v.required(ci.key("name"), comp.Name)
		v.url(ci.key("url"), comp.URL, "http", "https")
		for j, a := range comp.Aliases {
			aj := ci.key("aliases").index(j)
			if !v.componentID(aj, a) {
				continue
			}
			if o, ok := owner[a]; ok {
				if o == comp.ID {
					v.add(aj, "%q is already a name of this component", a)
				} else {
					v.add(aj, "%q is already a name of component %q", a, o)
				}
				continue
			}
			owner[a] = comp.ID
		}
	}
}

func (c *Config) validateGroups(v check) {
	g := path{"groups"}
	static := c.Groups.Source == "static"
	v.oneOf(g.key("source"), c.Groups.Source, "static", "fasjson")
	for _, name := range sortedKeys(c.Groups.Static) {
		at := g.key("static").key(name)
		if strings.TrimSpace(name) == "" {
			v.add(at, "group name must not be empty")
		}
		for i, id := range c.Groups.Static[name] {
			if msg := identityProblem(id); msg != "" {
				v.add(at.index(i), "%s", msg)
			}
		}
	}
	c.validateFASJSON(v, g.key("fasjson"))

	// Keys that no command uses (a typo such as "stauts" would leave the real permission at its
	// default without a word) are refused by validateCapabilities.
	for _, cmd := range sortedKeys(c.Permissions) {
		at := path{"permissions", cmd}
		groups := c.Permissions[cmd]
		if len(groups) == 0 {
			v.add(at, "list at least one group (leave the command out to keep its default)")
		}
		for i, grp := range groups {
			if _, ok := c.Groups.Static[grp]; static && !ok {
				v.add(at.index(i), "unknown group %q: not in groups.static", grp)
			}
		}
	}
}

func (c *Config) validateFASJSON(v check, fj path) {
	f := &c.Groups.FASJSON
	if c.Groups.Source == "fasjson" {
		v.required(fj.key("url"), f.URL)
		why := `groups.source is "fasjson"`
		v.requiredFor(fj.key("principal"), f.Principal, why)
		v.requiredFor(fj.key("keytab_file"), f.KeytabFile, why)
		v.requiredFor(fj.key("krb5_conf"), f.Krb5Conf, why)
	}
	v.url(fj.key("url"), f.URL, "https", "http")
	if name, realm, ok := strings.Cut(f.Principal, "@"); f.Principal != "" && (!ok || name == "" || realm == "" || strings.ContainsAny(f.Principal, " \t")) {
		v.add(fj.key("principal"), "%q: want name[/host]@REALM, e.g. nocbot/status01.example.org@FEDORAPROJECT.ORG", f.Principal)
	}
	if f.SPN != "" && !strings.Contains(f.SPN, "/") {
		v.add(fj.key("spn"), "%q: want service/host, e.g. HTTP/fasjson.fedoraproject.org", f.SPN)
	}
	v.url(fj.key("kdc_proxy"), f.KDCProxy, "https")
	v.positive(fj.key("cache_ttl"), f.CacheTTL)
	v.positive(fj.key("negative_cache_ttl"), f.NegativeCacheTTL)
	v.positive(fj.key("timeout"), f.Timeout)
	if f.StaleTTL.Duration < f.CacheTTL.Duration {
		v.add(fj.key("stale_ttl"), "must be at least cache_ttl (%s): a membership is trusted that long anyway", f.CacheTTL.Duration)
	}
	v.atLeast(fj.key("cache_size"), f.CacheSize, 1)
	for _, perm := range sortedKeys(c.PermissionChannels) {
		for i, room := range c.PermissionChannels[perm] {
			net, name, _ := strings.Cut(room, ":")
			ok := net == "irc" && strings.HasPrefix(name, "#") || net == "matrix" && strings.HasPrefix(name, "!") && strings.Contains(name, ":") ||
				net == "console" && name != ""
			if !ok {
				v.add(path{"permission_channels", perm}.index(i), `%q: want "irc:#channel" or "matrix:!roomid:server" (a room id, not an alias)`, room)
			}
		}
	}
}

func (c *Config) validatePublisher(v check) {
	p := path{"publisher"}
	pub := &c.Publisher
	v.oneOf(p.key("target"), pub.Target, "dir", "s3")
	if pub.Target == "dir" {
		v.required(p.key("dir"), pub.Dir)
	}
	if pub.MinInterval.Duration < 0 {
		v.add(p.key("min_interval"), `must not be negative ("0s" publishes every change as soon as the last publish ends)`)
	}
	if v.required(p.key("site_url"), pub.SiteURL) {
		v.url(p.key("site_url"), pub.SiteURL, "https", "http")
	}
	v.required(p.key("title"), pub.Title)
	for i, link := range pub.ChatLinks {
		v.url(p.key("chat_links").index(i), link)
	}
	v.url(p.key("tickets_url"), pub.TicketsURL, "https", "http")
	if pub.MaintenanceDuration.Duration <= 0 {
		v.add(p.key("maintenance_duration"), "must be positive: it is the expected length of a maintenance given without an end")
	}

	s3 := p.key("s3")
	if pub.Target == "s3" {
		v.requiredFor(s3.key("bucket"), pub.S3.Bucket, `publisher.target is "s3"`)
		v.requiredFor(s3.key("region"), pub.S3.Region, `publisher.target is "s3"`)
	}
	if strings.HasPrefix(pub.S3.Prefix, "/") {
		v.add(s3.key("prefix"), "must not start with '/': object keys have no leading slash")
	}
	v.url(s3.key("endpoint"), pub.S3.Endpoint, "https", "http")

	cf := p.key("cloudfront")
	if pub.CloudFront.DistributionID != "" && pub.Target != "s3" {
		v.add(cf.key("distribution_id"), `invalidations need publisher.target = "s3"`)
	}
	v.url(cf.key("endpoint"), pub.CloudFront.Endpoint, "https", "http")
}

// validate checks what is the config's own business: how secrets are referenced and the tuning
// numbers. What the options mean (server, nicks, SASL, channels) is checked by the IRC adapter
// itself ([Capabilities].Check), so there is one set of IRC rules.
func (irc *IRC) validate(v check, at path) {
	if !irc.TLS && irc.TLSInsecureSkipVerify {
		v.add(at.key("tls_insecure_skip_verify"), "has no effect without tls = true")
	}
	passwords := v.secretRefs(at, "sasl_password", irc.SASLPasswordEnv, irc.SASLPasswordFile)
	if passwords == 2 {
		v.add(at.key("sasl_password_file"), "give either sasl_password_env or sasl_password_file, not both")
	}
	if passwords > 0 && irc.SASLMechanism != "PLAIN" {
		key := "sasl_password_env"
		if irc.SASLPasswordEnv == "" {
			key = "sasl_password_file"
		}
		v.add(at.key(key), `a SASL password is only used with sasl_mechanism = "PLAIN"`)
	}
	v.atLeast(at.key("flood_burst"), irc.FloodBurst, 1)
	v.positive(at.key("flood_interval"), irc.FloodInterval)
	v.positive(at.key("reconnect_max"), irc.ReconnectMax)
	v.atLeast(at.key("host_rate_limit"), irc.HostRateLimit, 1)
}

// validate checks how the Matrix secrets are referenced; what the options mean (homeserver,
// user id, rooms, the identity policy) is checked by the Matrix adapter itself
// ([Capabilities].Check).
func (m *Matrix) validate(v check, at path) {
	n := v.secretRefs(at, "access_token", m.AccessTokenEnv, m.AccessTokenFile) +
		v.secretRefs(at, "password", m.PasswordEnv, m.PasswordFile)
	if n != 1 {
		v.add(at, "give exactly one of access_token_env, access_token_file, password_env, password_file (%d given)", n)
	}
	v.required(at.key("device_name"), m.DeviceName)
}

// check records problems; its methods report whether the value passed.
type check struct{ ps *problems }

func (v check) add(at path, format string, args ...any) { v.ps.add(at, format, args...) }

func (v check) required(at path, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.add(at, "required")
		return false
	}
	return true
}

func (v check) requiredFor(at path, s, why string) {
	if strings.TrimSpace(s) == "" {
		v.add(at, "required when %s", why)
	}
}

func (v check) oneOf(at path, s string, allowed ...string) {
	if !slices.Contains(allowed, s) {
		v.add(at, "must be one of %s, not %q", quoteList(allowed), s)
	}
}

func (v check) atLeast(at path, n, lo int) {
	if n < lo {
		v.add(at, "must be at least %d, not %d", lo, n)
	}
}

func (v check) positive(at path, d Duration) {
	if d.Duration <= 0 {
		v.add(at, `must be a positive duration such as "30s", not %q`, d.String())
	}
}

// url checks s, when set, is an absolute URL with a host (which catches the "http:/host" typo)
// and one of the schemes, when given.
func (v check) url(at path, s string, schemes ...string) {
	if s == "" {
		return
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && (len(schemes) > 0 || u.Opaque == "")) {
		v.add(at, "%q is not an absolute URL such as https://example.org/", s)
		return
	}
	if len(schemes) > 0 && !slices.Contains(schemes, u.Scheme) {
		v.add(at, "%q: scheme must be %s", s, strings.Join(schemes, " or "))
	}
}

// hostPort checks s is host:port; the listen address of a server may leave the host out and
// use port 0.
func (v check) hostPort(at path, s string, dial bool) (host string, ok bool) {
	host, port, err := net.SplitHostPort(s)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || (dial && host == "") {
		v.add(at, "must be host:port, not %q", s)
		return "", false
	}
	if n < 0 || n > 65535 || (dial && n == 0) {
		v.add(at, "port %d out of range", n)
		return "", false
	}
	return host, true
}

// secretRefs checks the references of the secret key (e.g. sasl_password_env and
// sasl_password_file) and returns how many are set.
func (v check) secretRefs(at path, key, env, file string) int {
	n := 0
	if env != "" {
		n++
		if !isEnvName(env) {
			v.add(at.key(key+"_env"), "must name an environment variable such as NOCBOT_%s (the secret itself never goes in the file)", strings.ToUpper(at.String()+"_"+key))
		}
	}
	if file != "" {
		n++
	}
	return n
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// identityProblem explains what is wrong with a group member "network:account", or returns "".
func identityProblem(id string) string {
	network, account, ok := strings.Cut(id, ":")
	switch {
	case !ok || !isNetworkName(network):
		return fmt.Sprintf(`%q must be "network:account", e.g. "irc:nirik", "matrix:@nirik:fedora.im"`, id)
	case account == "" || strings.ContainsFunc(account, unicode.IsSpace):
		return fmt.Sprintf("%q: account missing or contains spaces", id)
	case network == "matrix" && strings.HasPrefix(account, "@") && !mxid.UserID(account):
		// A mapped homeserver gives the account ("matrix:nirik" for @nirik:fedora.im); others
		// keep the full user id, which must then be well formed.
		return fmt.Sprintf("%q: a full matrix user id looks like matrix:@nirik:fedora.im", id)
	}
	return ""
}

func componentIDProblem(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return "must be 1 to 64 characters"
	}
	for i := range len(s) {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return fmt.Sprintf("%q: use lowercase letters, digits, '-', '_' and '.', starting with a letter or digit", s)
		}
	}
	return ""
}

func (v check) componentID(at path, s string) bool {
	if msg := componentIDProblem(s); msg != "" {
		v.add(at, "%s", msg)
		return false
	}
	return true
}

func isNetworkName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	})
}

func isEnvName(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

func (c *Config) validateMessaging(v check) {
	m, at := c.Messaging, path{"messaging"}
	if !m.Enabled {
		return
	}
	if v.required(at.key("url"), m.URL) {
		v.url(at.key("url"), m.URL, "amqp", "amqps")
	}
	if (m.CertFile == "") != (m.KeyFile == "") {
		v.add(at.key("key_file"), "cert_file and key_file go together")
	}
	if m.CertFile != "" && !strings.HasPrefix(m.URL, "amqps://") {
		v.add(at.key("url"), "a client certificate needs an amqps:// url")
	}
	v.required(at.key("exchange"), m.Exchange)
	if p := m.TopicPrefix; p != "" && (strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.ContainsAny(p, " *#")) {
		v.add(at.key("topic_prefix"), "%q: words joined by '.', without wildcards", p)
	}
	v.required(at.key("app"), m.App)
	v.atLeast(at.key("max_pending"), m.MaxPending, 1)
}
