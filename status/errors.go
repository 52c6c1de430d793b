package status

import "errors"

// Sentinel errors callers branch on; wrapped with detail where they occur.
var (
	ErrUnknownComponent = errors.New("unknown service")
	ErrUnknownLevel     = errors.New("unknown level")
	ErrUnknownIncident  = errors.New("unknown incident")
	ErrEmptyText        = errors.New("the message is empty")
	ErrTextTooLong      = errors.New("the message is too long")
	ErrControlChars     = errors.New("the message contains control characters")
	ErrEndBeforeStart   = errors.New("end before start")
	ErrAlreadyResolved  = errors.New("incident already resolved")
	ErrNothingOpen      = errors.New("nothing open")
	ErrNoComponents     = errors.New("no services given")
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
