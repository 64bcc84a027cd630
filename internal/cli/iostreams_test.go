package cli

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/term"

	"github.com/bot-bottle/bot-bottle/internal/termfilter"
)

func TestIOStreamsTerminal(t *testing.T) {
	ios, _, _, _ := TestIO()
	if ios.IsTerminal() || ios.ColorEnabled() {
		t.Errorf("TestIO: IsTerminal() = %v, ColorEnabled() = %v; want false, false", ios.IsTerminal(), ios.ColorEnabled())
	}
	tests := []struct {
		s         IOStreams
		wantColor bool
	}{
		{IOStreams{terminal: true}, true},
		{IOStreams{terminal: true, noColor: true}, false},
		{IOStreams{noColor: true}, false},
	}
	for _, tt := range tests {
		if got := tt.s.ColorEnabled(); got != tt.wantColor {
			t.Errorf("IOStreams{terminal: %v, noColor: %v}.ColorEnabled() = %v, want %v", tt.s.terminal, tt.s.noColor, got, tt.wantColor)
		}
	}
}

// TestTerminalWriter checks that what goes to a terminal is filtered and
// what goes to a file is not.
func TestTerminalWriter(t *testing.T) {
	const in = "\x1b]52;c;SGVsbG8=\a\x1b]0;pwned\a\x1b[31mred\x1b[0m\n"
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer func() { _ = master.Close(); _ = tty.Close() }()
	// Raw, so that the terminal passes the bytes as they are.
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(terminalWriter(tty), in); err != nil {
		t.Fatal(err)
	}
	want := "\x1b[31mred\x1b[0m\n"
	got := make([]byte, len(want))
	if _, err := io.ReadFull(master, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("a terminal got %q, want %q", got, want)
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := io.WriteString(terminalWriter(f), in); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(f.Name()); err != nil || string(data) != in {
		t.Errorf("a file got %q, %v; want %q", data, err, in)
	}
}

func TestEightBitLocale(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"LANG": "en_US.UTF-8"}, false},
		{map[string]string{"LANG": "C.utf8"}, false},
		{map[string]string{"LANG": "C"}, true},
		{map[string]string{"LANG": "de_DE.ISO-8859-1"}, true},
		{map[string]string{"LANG": "en_US.UTF-8", "LC_CTYPE": "POSIX"}, true},
		{map[string]string{"LANG": "C", "LC_ALL": "en_GB.UTF-8"}, false},
		{map[string]string{"LANG": "C", "LC_ALL": ""}, true},
	}
	for _, tt := range tests {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		if got := eightBitLocale(lookup); got != tt.want {
			t.Errorf("eightBitLocale(%v) = %v, want %v", tt.env, got, tt.want)
		}
	}
}

// TestTerminalReset checks that the filter passes every sequence of the
// reset whole: one it dropped would leave its mode on.
func TestTerminalReset(t *testing.T) {
	var f termfilter.Filter
	if got := string(f.Flush(f.Append(nil, []byte(terminalReset)))); got != terminalReset {
		t.Errorf("the filter turned the reset %q into %q", terminalReset, got)
	}
}
