// Package termsafe makes text from registries and cluster objects safe to
// print on a terminal: control characters (C0, DEL, C1), invalid UTF-8 and
// the Unicode bidirectional controls are written as Go escapes (\n, \x1b,
// \u202e), so a crafted version, name or registry message can neither move
// the cursor, change colours, nor start a line that looks like ocisrc's own.
//
// Text output, warnings, errors and hints go through it; JSON and YAML
// output do not (their encoders escape what they must and stay exact).
package termsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every unsafe character escaped. Safe text is
// returned unchanged.
func Escape(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])>>4, 16))
			b.WriteString(strconv.FormatUint(uint64(s[i])&0xf, 16))
		case unsafeRune(r):
			q := strconv.QuoteRuneToASCII(r) // "'\x1b'"
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// EscapeLines escapes each line of s and keeps the line breaks: for
// messages whose lines are ocisrc's own and whose parts may not be.
func EscapeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Escape(l)
	}
	return strings.Join(lines, "\n")
}

func safe(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

func unsafeRune(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
		return true // bidirectional controls
	}
	return false
}
