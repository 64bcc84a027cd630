package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bot-bottle/bot-bottle/internal/manifest"
)

// maxLabel is the longest label, in bytes.
const maxLabel = 64

// labelColors are the colors a bottle's label may have, with their
// bright ANSI foreground codes.
var labelColors = map[string]int{
	"red": 91, "green": 92, "yellow": 93, "blue": 94, "magenta": 95, "cyan": 96, "white": 97,
}

// colorNames lists labelColors in order: manifest.LabelColors, which an
// agent's color is one of.
func colorNames() []string { return manifest.LabelColors }

// checkLabel refuses a label that could not be shown as typed: it goes to
// terminals (list active) and into the agent CLI's arguments.
func checkLabel(l string) error {
	switch {
	case l == "":
		return nil
	case len(l) > maxLabel:
		return flagErrorf("--label is %d bytes; give at most %d", len(l), maxLabel)
	case !utf8.ValidString(l):
		return flagErrorf("--label is not UTF-8 text")
	case strings.TrimSpace(l) != l:
		return flagErrorf("--label starts or ends with a space; trim it")
	}
	for _, r := range l {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return flagErrorf("--label holds the control character %U; use printable characters", r)
		}
	}
	return nil
}

// checkColor refuses a color that is not one of labelColors.
func checkColor(c string) error {
	if _, ok := labelColors[c]; c != "" && !ok {
		return flagErrorf("--color %q is not a color; choose one of %s", c, strings.Join(colorNames(), ", "))
	}
	return nil
}

// paint colors s with a label color when color is on.
func paint(s, color string, on bool) string {
	code, ok := labelColors[color]
	if !on || !ok {
		return s
	}
	return fmt.Sprintf("\x1b[%dm%s\x1b[0m", code, s)
}
