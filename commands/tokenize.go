package commands

import (
	"errors"
	"strings"
)

// ErrUnterminatedQuote is returned for a quote that is never closed.
var ErrUnterminatedQuote = errors.New("unterminated quote")

// Tokenize splits a command line into words the way a shell user expects:
// whitespace separates words, double and single quotes group them, and a
// backslash escapes the next character (outside single quotes). An empty
// quoted string is a word of its own.
func Tokenize(line string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune // 0, '"' or '\''
		escaped bool
	)
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, ErrUnterminatedQuote
	}
	if escaped {
		cur.WriteRune('\\') // a trailing backslash is kept literally
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
