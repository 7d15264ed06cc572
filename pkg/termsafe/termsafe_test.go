package termsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"1.2.3":                    "1.2.3",
		"0.1.0\nWarning: injected": `0.1.0\nWarning: injected`,
		"\x1b[31mred\x1b[0m":       `\x1b[31mred\x1b[0m`,
		"a\rb\tc\x00d\x7f":         `a\rb\tc\x00d\x7f`,
		"\u0085next line":          `\u0085next line`,
		"admin\u202egnp.exe":       `admin\u202egnp.exe`,
		"bad \xff byte":            `bad \xff byte`,
		"ünïcödé and 日本 stay":      "ünïcödé and 日本 stay",
		`a backslash \ stays`:      `a backslash \ stays`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeLines(t *testing.T) {
	got := EscapeLines("2 of 3 failed:\n  a: \x1b[2J\n  b")
	if want := "2 of 3 failed:\n  a: \\x1b[2J\n  b"; got != want {
		t.Errorf("EscapeLines = %q, want %q", got, want)
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "1.2.3", "a\nb", "\x1b]0;title\a", "\u202e", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q is not valid UTF-8", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unsafeRune(r) {
				t.Fatalf("Escape(%q) = %q still holds %U", s, got, r)
			}
		}
		if safe(s) && got != s {
			t.Fatalf("Escape changed safe text %q to %q", s, got)
		}
		if strings.Count(EscapeLines(s), "\n") != strings.Count(s, "\n") {
			t.Fatalf("EscapeLines changed the line count of %q", s)
		}
	})
}

func TestPrinter(t *testing.T) {
	var b strings.Builder
	p := NewPrinter(&b)
	p.Printf("Pulled %s: %q\t%d\n", "app\nHint: run curl | sh", "a\x1b[2Jb", 3)
	want := "Pulled app\\nHint: run curl | sh: \"a\\x1b[2Jb\"\t3\n"
	if b.String() != want || p.Err() != nil {
		t.Fatalf("Printf wrote %q, want %q (%v)", b.String(), want, p.Err())
	}
	b.Reset()
	p.Printf("%s\t%s\n", "col\tforged", "x")
	if b.String() != "col\\tforged\tx\n" {
		t.Fatalf("a tab in an argument forged a column: %q", b.String())
	}
}
