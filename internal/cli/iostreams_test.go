package cli

import "testing"

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
