package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ErrNoDaemon means nothing listens on the socket: it is missing or
// stale. The caller then looks at the state file's lock.
var ErrNoDaemon = errors.New("no nocbot listens on the admin socket")

// Do sends req to the socket at path and hands every frame but the last
// to fn; it returns the last (Done) frame. A frame with Error set is
// returned as an error.
func Do(ctx context.Context, path string, req Request, fn func(Frame) error) (Frame, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return Frame{}, fmt.Errorf("%s: %w", path, ErrNoDaemon)
	case errors.Is(err, os.ErrPermission):
		return Frame{}, fmt.Errorf("admin socket %s: permission denied: it is open to nocbot's own user and root only", path)
	case err != nil:
		return Frame{}, fmt.Errorf("admin socket %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return Frame{}, err
	}
	if _, err := c.Write(append(b, '\n')); err != nil {
		return Frame{}, fmt.Errorf("admin socket %s: sending the request: %w", path, err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		line, err := readLine(r, maxFrame)
		if err != nil {
			if ctx.Err() != nil {
				return Frame{}, ctx.Err()
			}
			return Frame{}, fmt.Errorf("admin socket %s: the answer stopped before its end (did nocbot stop?): %w", path, err)
		}
		var f Frame
		if err := json.Unmarshal(line, &f); err != nil {
			return Frame{}, fmt.Errorf("admin socket %s: unreadable answer: %w", path, err)
		}
		if f.Done {
			if f.Error != "" {
				return f, errors.New(f.Error)
			}
			return f, nil
		}
		if err := fn(f); err != nil {
			return Frame{}, err
		}
	}
}
