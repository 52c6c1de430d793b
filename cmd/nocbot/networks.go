package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/fedora-infra/nocbot/bot/irc"
	"github.com/fedora-infra/nocbot/bot/matrix"
	"github.com/fedora-infra/nocbot/config"
)

// addNetworks connects the configured chat networks to the bot. Secrets
// are resolved here, at start-up, so a missing one fails fast.
func (d *Daemon) addNetworks(cfg *config.Config, getenv func(string) string, log *slog.Logger) error {
	if c := cfg.IRC; c != nil {
		var password string
		if c.SASLMechanism == "PLAIN" {
			var err error
			if password, err = config.Secret(c.SASLPasswordEnv, c.SASLPasswordFile, getenv); err != nil {
				return fmt.Errorf("irc sasl password: %w", err)
			}
		}
		client := irc.New(ircOptions(c, password), d.bot, log.With("net", "irc"))
		d.chat = append(d.chat, client)
		d.networks["irc"] = client
		d.ready["irc"] = readyCheck("irc", client.Ready)
	}
	if c := cfg.Matrix; c != nil {
		token, err := optionalSecret(c.AccessTokenEnv, c.AccessTokenFile, getenv)
		if err != nil {
			return fmt.Errorf("matrix access token: %w", err)
		}
		password, err := optionalSecret(c.PasswordEnv, c.PasswordFile, getenv)
		if err != nil {
			return fmt.Errorf("matrix password: %w", err)
		}
		client, err := matrix.New(matrixOptions(c, token, password), d.bot, d.store, log.With("net", "matrix"))
		if err != nil {
			return fmt.Errorf("matrix: %w", err)
		}
		d.chat = append(d.chat, client)
		d.networks["matrix"] = client
		d.ready["matrix"] = readyCheck("matrix", client.Ready)
	}
	return nil
}

// ircOptions maps [irc] onto the adapter's options, for the client and
// for check-config alike.
func ircOptions(c *config.IRC, password string) irc.Options {
	return irc.Options{
		Server: c.Server, TLS: c.TLS, TLSInsecureSkipVerify: c.TLSInsecureSkipVerify,
		Nick: c.Nick, FallbackNick: c.FallbackNick, User: c.User, Realname: c.Realname,
		SASLMechanism: c.SASLMechanism, SASLUser: c.SASLUser, SASLPassword: password,
		ClientCertFile: c.ClientCertFile, ClientKeyFile: c.ClientKeyFile,
		Channels: c.Channels, TrustNicks: !c.RequireAccount,
		FloodBurst: c.FloodBurst, FloodInterval: c.FloodInterval.Duration, ReconnectMax: c.ReconnectMax.Duration,
		HostRatePerMinute: c.HostRateLimit, HostBurst: max(10, c.HostRateLimit/4),
	}
}

// matrixOptions maps [matrix] onto the adapter's options, for the client
// and for check-config alike.
func matrixOptions(c *config.Matrix, token, password string) matrix.Options {
	return matrix.Options{
		Homeserver: c.Homeserver, UserID: c.UserID, AccessToken: token, Password: password,
		DeviceName: c.DeviceName, Rooms: c.Rooms, AllowedHomeservers: c.AllowedHomeservers,
		AutoJoinInvitesFrom: c.AutoJoinInvitesFrom, AccountMapping: c.AccountMapping,
	}
}

func optionalSecret(env, file string, getenv func(string) string) (string, error) {
	if env == "" && file == "" {
		return "", nil
	}
	return config.Secret(env, file, getenv)
}

func readyCheck(name string, ready func() bool) func(context.Context) error {
	return func(context.Context) error {
		if !ready() {
			return errors.New(name + " is not connected")
		}
		return nil
	}
}
