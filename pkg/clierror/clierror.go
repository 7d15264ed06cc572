// Package clierror classifies errors for the command line: the exit code they
// map to and an optional hint printed after the message.
//
// Exit codes follow kubectl and Helm: 0 success, 1 a runtime failure (cluster,
// network, registry), 2 invalid input or a request refused by policy.
package clierror

import (
	"errors"
	"strings"
)

// Exit codes.
const (
	CodeOK      = 0
	CodeRuntime = 1
	CodeInvalid = 2
)

// coded carries an exit code and a hint along with the error it wraps.
type coded struct {
	err  error
	code int
	// hint is the hint's lines: each is printed on a line of its own, and a
	// newline inside one is escaped like any other control character, so
	// text in a hint can never start a line of its own.
	hint []string
}

func (e *coded) Error() string { return e.err.Error() }
func (e *coded) Unwrap() error { return e.err }

// Hint is the hint given with WithHint, its lines joined by newlines, or "".
func (e *coded) Hint() string { return strings.Join(e.hint, "\n") }

// HintLines is the hint's lines.
func (e *coded) HintLines() []string { return e.hint }

// Hinter is an error that carries a hint. Errors of other packages may
// implement it; the outermost non-empty hint in a chain is the one shown.
// Its Hint is one line.
type Hinter interface {
	error
	Hint() string
}

func lines(hint string) []string {
	if hint == "" {
		return nil
	}
	return []string{hint}
}

// Invalid marks err as invalid input or a refusal by policy (exit code 2).
func Invalid(err error) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: CodeInvalid}
}

// WithHint attaches a one-line hint ("what to do next") to err, keeping its
// exit code. A newline in hint is printed escaped, never as a line break.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: ExitCode(err), hint: lines(hint)}
}

// WithHintLines attaches a hint of several lines to err, keeping its exit
// code: each line is printed on its own (escaped).
func WithHintLines(err error, hint ...string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: ExitCode(err), hint: hint}
}

// InvalidWithHint is Invalid(WithHint(err, hint)).
func InvalidWithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: CodeInvalid, hint: lines(hint)}
}

// InvalidWithHintLines is Invalid(WithHintLines(err, hint...)).
func InvalidWithHintLines(err error, hint ...string) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: CodeInvalid, hint: hint}
}

// ExitCode returns the exit code for err: 0 for nil, the outermost code set by
// this package, else 1.
func ExitCode(err error) int {
	if err == nil {
		return CodeOK
	}
	var c *coded
	if errors.As(err, &c) {
		return c.code
	}
	var e interface{ ExitCode() int }
	if errors.As(err, &e) {
		return e.ExitCode()
	}
	return CodeRuntime
}

// HintLines returns the lines of the outermost hint attached to err.
func HintLines(err error) []string {
	for err != nil {
		var h Hinter
		if !errors.As(err, &h) {
			return nil
		}
		if c, ok := h.(*coded); ok && len(c.hint) > 0 {
			return c.hint
		}
		if hint := h.Hint(); hint != "" {
			return []string{hint}
		}
		err = errors.Unwrap(h)
	}
	return nil
}

// Hint returns the outermost hint attached to err, its lines joined by
// newlines, or "".
func Hint(err error) string {
	for err != nil {
		var h Hinter
		if !errors.As(err, &h) {
			return ""
		}
		if hint := h.Hint(); hint != "" {
			return hint
		}
		err = errors.Unwrap(h)
	}
	return ""
}

// reasoned carries the machine-readable reason of an error.
type reasoned struct {
	error
	reason string
}

func (e *reasoned) Unwrap() error { return e.error }

// WithReason tags err with a reason: one CamelCase word that says what
// failed, for programs (the "reason" field of -o json, like the reason of a
// Kubernetes Status). The exit code and the hint are err's.
func WithReason(err error, reason string) error {
	if err == nil {
		return nil
	}
	return &reasoned{error: err, reason: reason}
}

// Reasons every failure falls back to.
const (
	ReasonInvalid = "Invalid"
	ReasonFailed  = "Failed"
)

// Reason is the outermost reason err was tagged with, or, for an error
// that has none, Invalid (exit code 2) or Failed (exit code 1).
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	if ExitCode(err) == CodeInvalid {
		return ReasonInvalid
	}
	return ReasonFailed
}

// Reason implements the reason interface Reason looks for.
func (e *reasoned) Reason() string { return e.reason }
