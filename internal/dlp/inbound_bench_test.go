package dlp

import (
	"strings"
	"testing"
)

func BenchmarkScanInjection1KiB(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 23)
	b.ReportAllocs()
	for b.Loop() {
		ScanInjection(text)
	}
}
