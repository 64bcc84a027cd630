package dlp

import "strings"

// RedactFindings returns text with every occurrence of each finding's
// matched text replaced by Redacted; occurrences that overlap or touch
// become one. ok is false when a finding's text does not occur in text
// as written (it was found decoded, or with its separators stripped):
// such a finding cannot be redacted there. A valid UTF-8 text stays
// valid: a match of valid UTF-8 begins and ends on character boundaries.
func RedactFindings(text string, fs []Finding) (out string, ok bool) {
	var spans [][2]int
	for _, f := range fs {
		n := len(spans)
		for i := 0; f.text != ""; {
			j := strings.Index(text[i:], f.text)
			if j < 0 {
				break
			}
			spans = append(spans, [2]int{i + j, i + j + len(f.text)})
			i += j + 1
		}
		if len(spans) == n {
			return "", false
		}
	}
	if len(spans) == 0 {
		return text, true
	}
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, sp := range mergeSpans(spans) {
		b.WriteString(text[last:sp[0]])
		b.WriteString(Redacted)
		last = sp[1]
	}
	b.WriteString(text[last:])
	return b.String(), true
}
