package status

// Refusal is input the person can correct. The sentinels below are
// refusals; an error wrapping one (with detail, "unknown incident #42")
// is meant for the person as a whole, which the chat layer recognises by
// the UserMessage method, not by a list.
type Refusal struct{ msg string }

func (r *Refusal) Error() string       { return r.msg }
func (r *Refusal) UserMessage() string { return r.msg }

func refusal(msg string) *Refusal { return &Refusal{msg: msg} }

// Sentinel errors callers branch on; wrapped with detail where they occur.
var (
	ErrUnknownComponent = refusal("unknown service")
	ErrUnknownLevel     = refusal("unknown level")
	ErrUnknownIncident  = refusal("unknown incident")
	ErrEmptyText        = refusal("the message is empty")
	ErrTextTooLong      = refusal("the message is too long")
	ErrControlChars     = refusal("the message contains control characters")
	ErrEndBeforeStart   = refusal("end before start")
	ErrAlreadyResolved  = refusal("incident already resolved")
	ErrNothingOpen      = refusal("nothing open")
	ErrNoComponents     = refusal("no services given")
)

// UnknownComponentError names the component that was not found and the
// nearest known id, so the reply can suggest it.
type UnknownComponentError struct {
	Name    string
	Suggest string
}

func (e *UnknownComponentError) Error() string {
	if e.Suggest != "" {
		return "unknown service '" + e.Name + "' — did you mean '" + e.Suggest + "'?"
	}
	return "unknown service '" + e.Name + "'"
}

func (e *UnknownComponentError) Unwrap() error { return ErrUnknownComponent }

// UserMessage is the whole text, with the suggestion.
func (e *UnknownComponentError) UserMessage() string { return e.Error() }
