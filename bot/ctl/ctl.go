// Package ctl is the local admin socket: the command language from a
// shell on the host (nocbot ctl) when chat is down. It is a transport like
// the console, with one difference: who is asking comes from the socket's
// peer credentials (the kernel vouches for the unix user), so a command
// runs as "ctl:<user>" (or "ctl:<uid>" for a uid without a name) and is
// allowed by [groups.static] like any other identity. The socket is created mode 0600: only nocbot's own user and
// root can connect.
//
// The wire format is one JSON request line from the client, then JSON
// frame lines from the server, the last one with Done set.
package ctl

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Request is what the client asks, as one JSON line.
type Request struct {
	// Op is "command" (run Line as a chat command) or an operation the
	// daemon registered (Options.Ops: backup, audit).
	Op    string            `json:"op"`
	Line  string            `json:"line,omitempty"`
	Query map[string]string `json:"query,omitempty"`
}

// OpCommand runs Request.Line through the bot.
const OpCommand = "command"

// Frame is one line of the server's answer.
type Frame struct {
	Line   string `json:"line,omitempty"`   // a line of output
	Data   []byte `json:"data,omitempty"`   // a chunk of a byte stream (a backup)
	Done   bool   `json:"done,omitempty"`   // the last frame
	Result string `json:"result,omitempty"` // with Done, for a command: commands.Result
	Error  string `json:"error,omitempty"`  // with Done: the request failed
}

// maxRequest bounds a request line; a command line is far shorter.
const maxRequest = 64 << 10

// maxFrame bounds a frame line the client accepts: a data chunk in
// base64 plus its JSON.
const maxFrame = 1 << 20

// dataChunk is the most bytes one data frame carries.
const dataChunk = 64 << 10

// Output is where an operation writes its answer: lines, a byte stream,
// or both. It is safe for one goroutine at a time.
type Output struct {
	mu       sync.Mutex
	w        *bufio.Writer
	enc      *json.Encoder
	deadline func() // before each frame: a client that stops reading fails the request
}

// writeTimeout bounds the wait for a client to take one frame, so a
// stopped "nocbot backup" (Ctrl-Z) cannot hold its read transaction, and
// the file's old pages, for ever.
const writeTimeout = 30 * time.Second

func newOutput(c net.Conn) *Output {
	bw := bufio.NewWriter(c)
	return &Output{w: bw, enc: json.NewEncoder(bw), deadline: func() { c.SetWriteDeadline(time.Now().Add(writeTimeout)) }}
}

// Line sends one line of output.
func (o *Output) Line(s string) error { return o.frame(Frame{Line: s}) }

// Write sends bytes as data frames (io.Writer, for a backup).
func (o *Output) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), dataChunk)]
		if err := o.frame(Frame{Data: c}); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

func (o *Output) frame(f Frame) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deadline()
	if err := o.enc.Encode(f); err != nil {
		return fmt.Errorf("write to the ctl client: %w", err)
	}
	if f.Done {
		return o.w.Flush()
	}
	return nil
}

func (o *Output) flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.deadline()
	return o.w.Flush()
}

// readLine reads one line of at most max bytes, without its end.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > max {
			return nil, fmt.Errorf("line longer than %d bytes", max)
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}
