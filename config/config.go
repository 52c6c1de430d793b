// Package config holds nocbot's configuration: built-in defaults, one TOML file decoded strictly
// over them, NOCBOT_* environment overrides, and validation that reports every problem at once
// with its key and line.
//
// Secrets never live in the file: keys such as sasl_password_env or access_token_file name an
// environment variable or a file, resolved at use with [Secret].
//
// The package is a leaf: it imports nothing from the module.
package config

import (
	"fmt"
	"time"
)

// Config is the whole configuration. Sections the file leaves out keep their defaults; keys
// merge into a section one by one; an array given in the file (components, channels, …)
// replaces the default array; tables of free keys (groups.static, permissions,
// matrix.account_mapping) merge key by key.
type Config struct {
	Bot         Bot                 `toml:"bot"`
	Log         Log                 `toml:"log"`
	Web         Web                 `toml:"web"`
	Console     Console             `toml:"console"`
	Ctl         Ctl                 `toml:"ctl"`
	Components  []Component         `toml:"components"`
	Groups      Groups              `toml:"groups"`
	Permissions map[string][]string `toml:"permissions"` // command -> groups allowed to run it
	// PermissionChannels limits a permission to some rooms, "irc:#chan" or "matrix:!id:server";
	// a permission not listed may be used anywhere, direct messages included.
	PermissionChannels map[string][]string `toml:"permission_channels"`
	Publisher          Publisher           `toml:"publisher"`
	Scheduler          Scheduler           `toml:"scheduler"`
	Announce           Announce            `toml:"announce"`
	Messaging          Messaging           `toml:"messaging"`
	Blockers           Blockers            `toml:"blockers"`
	Schedule           []ScheduleEntry     `toml:"schedule"` // [[schedule]]: recurring announcements
	Alerts             Alerts              `toml:"alerts"`   // monitoring alerts become proposals
	IRC                *IRC                `toml:"irc"`      // nil: IRC not configured
	Matrix             *Matrix             `toml:"matrix"`   // nil: Matrix not configured
}

// Bot is the transport-neutral behaviour of the bot.
type Bot struct {
	Name   string `toml:"name"`
	Prefix string `toml:"prefix"`
	State  string `toml:"state"` // bbolt file
	// UnknownCommandReply answers unknown commands; off by default because another bot in the
	// same channel may own them.
	UnknownCommandReply bool     `toml:"unknown_command_reply"`
	MaxMessage          int      `toml:"max_message"` // longest accepted command line, in characters
	CommandTimeout      Duration `toml:"command_timeout"`
	// MaxCommandAge refuses commands that reach nocbot later than this after they were sent
	// (Matrix delivers what was said while nocbot was down); a late "!status major" would
	// stamp a wrong history. Zero runs them however old.
	MaxCommandAge Duration `toml:"max_command_age"`
	MaxReplyLines int      `toml:"max_reply_lines"`
	// ChannelLines is the most lines a reply takes in a channel: a longer one shows its first
	// lines and offers the rest in a direct message (listings end in "and N more: <link>").
	ChannelLines int `toml:"channel_lines"`
	RateLimit    int `toml:"rate_limit"` // commands per minute per account
	Workers      int `toml:"workers"`
}

// Log selects the slog handler.
type Log struct {
	Format string `toml:"format"` // text | json
	Level  string `toml:"level"`  // debug | info | warn | error
}

// Web is the health/metrics/preview listener.
type Web struct {
	Listen  string `toml:"listen"`  // host:port; empty disables the listener
	Preview bool   `toml:"preview"` // serve the published directory at /
}

// Console is the stdin/stdout transport.
type Console struct {
	// Enabled nil means auto: on when neither IRC nor Matrix is configured. See
	// [Config.ConsoleEnabled].
	Enabled *bool  `toml:"enabled"`
	Account string `toml:"account"` // the console user is the identity "<network>:<account>"
	Network string `toml:"network"`
}

// Component is one service on the status page.
type Component struct {
	ID      string   `toml:"id"`
	Name    string   `toml:"name"`
	Group   string   `toml:"group"`
	URL     string   `toml:"url"`
	Aliases []string `toml:"aliases"` // other ids chat users type for it (old names)
}

// Groups says where group membership comes from.
type Groups struct {
	Source string `toml:"source"` // static | fasjson
	// Static maps a group to identities "network:account", e.g. "irc:nirik",
	// "matrix:nirik" (a user of a mapped homeserver), "matrix:@kevin:matrix.org" (any other),
	// "console:operator".
	Static  map[string][]string `toml:"static"`
	FASJSON FASJSON             `toml:"fasjson"`
}

// FASJSON is the Fedora account service used when Groups.Source is "fasjson". Every call is
// authenticated with Kerberos from a service keytab.
type FASJSON struct {
	URL        string `toml:"url"`
	Principal  string `toml:"principal"`   // nocbot's service principal, name[/host]@REALM
	KeytabFile string `toml:"keytab_file"` // its keytab (mode 0600, owned by nocbot)
	Krb5Conf   string `toml:"krb5_conf"`   // realms and KDCs; an https:// kdc is reached as a KDC proxy
	SPN        string `toml:"spn"`         // FASJSON's service principal; "" : HTTP/<host of url>
	// KDCProxy is an MS-KKDCP URL (https://id.fedoraproject.org/KdcProxy) used instead of the
	// KDCs of krb5_conf, for a bot outside the infrastructure's network.
	KDCProxy         string   `toml:"kdc_proxy"`
	CacheTTL         Duration `toml:"cache_ttl"`          // how long a membership or an account mapping is trusted
	NegativeCacheTTL Duration `toml:"negative_cache_ttl"` // how long "not a member" / "no account" is
	StaleTTL         Duration `toml:"stale_ttl"`          // how old a membership may be when FASJSON is down
	Timeout          Duration `toml:"timeout"`            // per HTTP call
	CacheSize        int      `toml:"cache_size"`         // answers kept in memory
	// IRCServer is the IRC network's host as it appears in FAS chat nicknames
	// (irc://irc.libera.chat/nick); irc:/nick is searched as well.
	IRCServer string `toml:"irc_server"`
}

// Publisher renders the status page and uploads it.
type Publisher struct {
	Target string `toml:"target"` // dir | s3
	Dir    string `toml:"dir"`    // output of the dir target, also what the web preview serves
	// MinInterval is the least time between two publishes: an isolated
	// change goes live at once, a burst is coalesced. "0s" means none.
	MinInterval Duration   `toml:"min_interval"`
	SiteURL     string     `toml:"site_url"`
	Title       string     `toml:"title"`
	ChatLinks   []string   `toml:"chat_links"`
	TicketsURL  string     `toml:"tickets_url"`
	S3          S3         `toml:"s3"`
	CloudFront  CloudFront `toml:"cloudfront"`

	// MaintenanceDuration is how long a maintenance given without an end is expected to
	// take; the page extends it by this step while the maintenance overruns.
	MaintenanceDuration Duration `toml:"maintenance_duration"`
}

// S3 is the bucket of the s3 target. Credentials come from the AWS default chain, never from
// here.
type S3 struct {
	Bucket    string `toml:"bucket"`
	Region    string `toml:"region"`
	Prefix    string `toml:"prefix"`   // key prefix, no leading slash
	Endpoint  string `toml:"endpoint"` // S3-compatible server; empty means AWS
	PathStyle bool   `toml:"path_style"`
}

// CloudFront is the optional CDN in front of the bucket; empty DistributionID means no
// invalidations.
type CloudFront struct {
	DistributionID string `toml:"distribution_id"`
	Endpoint       string `toml:"endpoint"`
}

// Scheduler holds the cron specs of periodic work. Specs use the standard five fields or a
// descriptor such as "@every 15m" and are read in UTC.
type Scheduler struct {
	// Republish re-renders and publishes the page periodically even without changes, so an
	// expired notice disappears and a bucket edited behind nocbot's back is repaired. Empty
	// disables it.
	Republish string `toml:"republish"`
	// Zone reads dates typed without a zone in !announce and !maintenance (a tz database name).
	Zone string `toml:"zone"`
	// Grace is how late a one-off announcement is still sent after downtime, marked
	// "(delayed)"; older ones are marked missed and shown by !announce list.
	Grace Duration `toml:"grace"`
	// MaxWindow is the longest maintenance window !maintenance accepts.
	MaxWindow Duration `toml:"max_window"`
	// MaxPending is how many pending announcements one person may have.
	MaxPending int `toml:"max_pending"`
	// Reminders are when a planned maintenance is announced again before its start.
	Reminders []Duration `toml:"reminders"`
}

// ScheduleEntry is one recurring announcement of the config file.
type ScheduleEntry struct {
	Name    string   `toml:"name"`
	Spec    string   `toml:"spec"` // cron: 5 fields or a descriptor such as @daily
	Zone    string   `toml:"zone"` // the spec's zone; UTC when empty
	Targets []string `toml:"targets"`
	Text    string   `toml:"text"`
}

// Announce routes what nocbot says on its own (status changes made by a command, publishing
// trouble, later scheduled work) to rooms, by topic.
type Announce struct {
	// Routes maps a topic to targets "network:room" (irc:#fedora-noc,
	// matrix:#noc:fedoraproject.org, console:console). The key "*" routes the topics not
	// listed. A topic without a route goes to every configured room of every network.
	Routes map[string][]string `toml:"routes"`
	// MaxAge drops, with a log line and a metric, an announcement still undelivered to a target
	// this long after it was made.
	MaxAge Duration `toml:"max_age"`
}

// Messaging publishes every status change on the community's AMQP message bus
// (fedora-messaging conventions). Off by default.
type Messaging struct {
	Enabled bool `toml:"enabled"`
	// URL is the broker: amqps://user@host:5671/%2Fpubsub (user = the certificate's CN).
	URL string `toml:"url"`
	// CAFile, CertFile and KeyFile are PEM files: the broker's CA and nocbot's client
	// certificate and key; with a certificate nocbot logs in by SASL EXTERNAL.
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Exchange is published to and never declared (a publish-only user may not).
	Exchange string `toml:"exchange"`
	// TopicPrefix goes before every topic: org.fedoraproject.prod.nocbot.incident.open.v1.
	TopicPrefix string `toml:"topic_prefix"`
	// App names nocbot to the broker (the client property "app").
	App string `toml:"app"`
	// MaxPending bounds the outbox: past it the oldest messages are dropped, with an ERROR
	// line and nocbot_messaging_dropped_total.
	MaxPending int `toml:"max_pending"`
}

// IRC is the IRC connection. Passwords are given by reference (env var or file).
type IRC struct {
	Server                string   `toml:"server"` // host:port
	TLS                   bool     `toml:"tls"`
	TLSInsecureSkipVerify bool     `toml:"tls_insecure_skip_verify"`
	Nick                  string   `toml:"nick"`
	FallbackNick          string   `toml:"fallback_nick"`
	User                  string   `toml:"user"`
	Realname              string   `toml:"realname"`
	SASLMechanism         string   `toml:"sasl_mechanism"` // "" | PLAIN | EXTERNAL
	SASLUser              string   `toml:"sasl_user"`
	SASLPasswordEnv       string   `toml:"sasl_password_env"`
	SASLPasswordFile      string   `toml:"sasl_password_file"`
	ClientCertFile        string   `toml:"client_cert_file"`
	ClientKeyFile         string   `toml:"client_key_file"`
	Channels              []string `toml:"channels"` // "#chan" or "#chan key"
	// RequireAccount ignores privileged commands from users not identified to services: a bare
	// nick is never trusted.
	RequireAccount bool     `toml:"require_account"`
	FloodBurst     int      `toml:"flood_burst"`
	FloodInterval  Duration `toml:"flood_interval"`
	ReconnectMax   Duration `toml:"reconnect_max"`
	// HostRateLimit caps commands per client host per minute, on top of the per-account
	// [bot] rate_limit, so nick-hopping from one host does not escape it.
	HostRateLimit int `toml:"host_rate_limit"`
}

// Matrix is the Matrix connection. Exactly one credential reference is set.
type Matrix struct {
	Homeserver          string   `toml:"homeserver"` // base URL
	UserID              string   `toml:"user_id"`    // @localpart:server
	AccessTokenEnv      string   `toml:"access_token_env"`
	AccessTokenFile     string   `toml:"access_token_file"`
	PasswordEnv         string   `toml:"password_env"`
	PasswordFile        string   `toml:"password_file"`
	DeviceName          string   `toml:"device_name"`
	Rooms               []string `toml:"rooms"`               // !id or #alias:server
	AllowedHomeservers  []string `toml:"allowed_homeservers"` // empty: any
	AutoJoinInvitesFrom []string `toml:"auto_join_invites_from"`
	// AccountMapping says how a user of a homeserver maps to an account: "localpart" (the
	// homeserver's accounts are Fedora accounts, e.g. fedora.im) or "none".
	AccountMapping map[string]string `toml:"account_mapping"`
}

// Duration is a time.Duration written as a string such as "30s" or "5m".
type Duration struct {
	time.Duration
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. \"30s\", \"5m\")", text)
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// Default returns the built-in configuration: the console transport, the dir publisher writing
// ./public, the web listener on 127.0.0.1:8080, state in ./nocbot.db, the Fedora service
// catalogue, and the console operator in the groups that may change the page.
func Default() *Config {
	return &Config{
		Bot: Bot{
			Name:           "nocbot",
			Prefix:         "!",
			State:          "./nocbot.db",
			MaxMessage:     1000,
			CommandTimeout: Duration{10 * time.Second},
			MaxCommandAge:  Duration{10 * time.Minute},
			MaxReplyLines:  25,
			ChannelLines:   6,
			RateLimit:      20,
			Workers:        4,
		},
		Log:        Log{Format: "text", Level: "info"},
		Web:        Web{Listen: "127.0.0.1:8080", Preview: true},
		Console:    Console{Account: "operator", Network: "console"},
		Ctl:        Ctl{Enabled: true},
		Components: defaultComponents(),
		Groups: Groups{
			Source: "static",
			// The console user is whoever runs the process, so it is trusted like an operator.
			Static: map[string][]string{
				"sysadmin-main": {"console:operator"},
				"noc":           {"console:operator"},
			},
			FASJSON: FASJSON{URL: "https://fasjson.fedoraproject.org/", Krb5Conf: "/etc/krb5.conf",
				CacheTTL: Duration{5 * time.Minute}, NegativeCacheTTL: Duration{time.Minute}, StaleTTL: Duration{time.Hour},
				Timeout: Duration{10 * time.Second}, CacheSize: 10000, IRCServer: "irc.libera.chat"},
		},
		Permissions: map[string][]string{
			"status":      {"sysadmin-main", "noc"},
			"announce":    {"sysadmin-main", "noc"},
			"maintenance": {"sysadmin-main", "noc"},
			"blockers":    {"sysadmin-main", "noc"},
		},
		PermissionChannels: map[string][]string{},
		Publisher: Publisher{
			Target:      "dir",
			Dir:         "./public",
			MinInterval: Duration{time.Second},
			SiteURL:     "https://status.fedoraproject.org/",
			Title:       "Fedora Infrastructure Status",
			ChatLinks: []string{
				"ircs://irc.libera.chat/fedora-noc",
				"https://matrix.to/#/#noc:fedoraproject.org",
			},
			TicketsURL: "https://forge.fedoraproject.org/infra/tickets/issues",

			MaintenanceDuration: Duration{2 * time.Hour},
		},
		Scheduler: Scheduler{Republish: "@every 15m", Zone: "UTC", Grace: Duration{15 * time.Minute},
			MaxWindow: Duration{7 * 24 * time.Hour}, MaxPending: 20,
			Reminders: []Duration{{24 * time.Hour}, {time.Hour}}},
		Announce:  Announce{MaxAge: Duration{24 * time.Hour}},
		Messaging: Messaging{Exchange: "amq.topic", TopicPrefix: "org.fedoraproject.prod", App: "nocbot", MaxPending: 10000},
		Alerts:    defaultAlerts(),
		Blockers:  defaultBlockers(),
	}
}

// sectionDefaulter fills a section that is absent by default (IRC, Matrix) the moment the file
// or the environment brings it in, so that its keys start from sensible values.
type sectionDefaulter interface {
	setDefaults()
}

func (i *IRC) setDefaults() {
	*i = IRC{
		TLS:            true,
		Nick:           "nocbot",
		User:           "nocbot",
		Realname:       "nocbot, Fedora Infrastructure status bot",
		RequireAccount: true,
		FloodBurst:     4,
		FloodInterval:  Duration{2 * time.Second},
		ReconnectMax:   Duration{5 * time.Minute},
		HostRateLimit:  30,
	}
}

func (m *Matrix) setDefaults() {
	*m = Matrix{
		DeviceName: "nocbot",
		// fedora.im accounts are Fedora accounts, so their localpart is the account name.
		AccountMapping: map[string]string{"fedora.im": "localpart"},
	}
}

// ConsoleEnabled reports whether the console transport runs: as configured, or when left
// unset, only when no chat network is configured.
func (c *Config) ConsoleEnabled() bool {
	if c.Console.Enabled != nil {
		return *c.Console.Enabled
	}
	return !c.IRCEnabled() && !c.MatrixEnabled()
}

// IRCEnabled reports whether an [irc] section was configured (in the file or the environment).
func (c *Config) IRCEnabled() bool { return c.IRC != nil }

// MatrixEnabled reports whether a [matrix] section was configured (in the file or the
// environment).
func (c *Config) MatrixEnabled() bool { return c.Matrix != nil }
