package commands

// ReadOnly reports whether a command line only reads: one of the commands
// anyone may run (no [permissions] entry), which by design change nothing.
// Transports use it to answer such commands without first making their
// own progress durable (the Matrix sync token): running one twice after a
// crash repeats an answer, never a change. Anything else, a line that
// does not parse included, counts as changing state.
func (d *Dispatcher) ReadOnly(line string) bool {
	words, err := Tokenize(line)
	if err != nil || len(words) == 0 {
		return false
	}
	cmd, _, ok := d.lookup(words)
	return ok && cmd.Perm == ""
}
