package dlp

import (
	"os"
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

// BenchmarkScanInjectionLorem is the body bench/egress serves: JSON of
// words the cheap pass rejects, like most API responses.
func BenchmarkScanInjectionLorem(b *testing.B) {
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat")
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := 0; sb.Len() < 1000; i++ {
		sb.WriteString(`"` + words[(i*7)%len(words)] + " " + words[(i*11)%len(words)] + `",`)
	}
	sb.WriteString(`""]}`)
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		ScanInjection(text)
	}
}

// BenchmarkScanInjectionDocs scans real documentation (the benign corpus),
// which holds many of the words the expressions look for.
func BenchmarkScanInjectionDocs(b *testing.B) {
	for _, name := range []string{"go-help-environment.txt", "ssh-keygen.1.txt", "curl.1.txt"} {
		raw, err := os.ReadFile("testdata/inbound/benign/" + name)
		if err != nil {
			b.Fatal(err)
		}
		text := string(raw)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				ScanInjection(text)
			}
		})
	}
}
