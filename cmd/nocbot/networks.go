package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/fedora-infra/nocbot/bot"
	"github.com/fedora-infra/nocbot/config"
	"github.com/fedora-infra/nocbot/store"
)

// addNetworks connects the configured chat networks to the bot.
func addNetworks(ctx context.Context, cfg *config.Config, st *store.Store, b *bot.Bot, log *slog.Logger, ch *chats) error {
	if cfg.IRCEnabled() || cfg.MatrixEnabled() {
		return errors.New("irc and matrix transports are not wired yet")
	}
	return nil
}
