package pushcheck

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/gitgate"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// benchPush builds a push of 200 commits adding about 5 MB of generated
// source: each commit adds a 20 KB file and inserts 5 KB into the middle
// of an earlier one. It returns the push and the added text, per file.
func benchPush(b *testing.B) (*gitgate.Push, []string) {
	b.Helper()
	f := newFixture(b)
	g := newSourceGen(42)
	tip := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# bench\n"})
	f.publish()
	var added []string
	for i := range 200 {
		name := fmt.Sprintf("pkg%d/file%d.go", i%10, i)
		content := g.file(20 << 10)
		edits := map[string]string{name: content}
		added = append(added, content)
		if i > 0 {
			prev := fmt.Sprintf("pkg%d/file%d.go", (i*7)%i%10, (i*7)%i)
			old := f.files[tip][prev]
			mid := lineStarts(old)[len(lineStarts(old))/2]
			ins := g.funcs(5 << 10)
			edits[prev] = old[:mid] + ins + old[mid:]
			added = append(added, ins)
		}
		tip = f.edit(tip, edits)
	}
	return f.push(create("bench", tip)), added
}

func totalBytes(texts []string) int64 {
	var n int64
	for _, t := range texts {
		n += int64(len(t))
	}
	return n
}

// BenchmarkCheck is the whole check of a 200-commit, 5 MB push: walking,
// diffing, reading blobs and scanning on GOMAXPROCS workers.
func BenchmarkCheck(b *testing.B) {
	p, added := benchPush(b)
	// As a sidecar runs it: with the known secrets of a route and a key.
	c := newChecker(b, Config{KnownSecrets: benchKnown})
	b.SetBytes(totalBytes(added))
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
	for b.Loop() {
		rejs, err := c.Check(context.Background(), p)
		if err != nil || len(rejs) != 0 {
			b.Fatalf("Check = %v, %v; want no rejections", rejs, err)
		}
	}
}

// BenchmarkCollect is the part of Check before scanning: the walk, the
// tree diffs and the rename detection.
func BenchmarkCollect(b *testing.B) {
	p, added := benchPush(b)
	c := newChecker(b, Config{})
	b.SetBytes(totalBytes(added))
	for b.Loop() {
		w, err := attribute(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.collect(context.Background(), p, append(p.NewCommits, w.extra...)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan compares, on one goroutine and the same added text, the
// gate's windowed scan with gitleaks scanning each text whole at the
// CLI's decoding depth.
func BenchmarkScan(b *testing.B) {
	_, added := benchPush(b)
	d := detector(b)
	b.Run("windows", func(b *testing.B) {
		b.SetBytes(totalBytes(added))
		for b.Loop() {
			for _, t := range added {
				d.scanRun(context.Background(), "x.go", t, lineStarts(t), 1)
			}
		}
	})
	b.Run("gitleaks-whole", func(b *testing.B) {
		whole, err := dlp.LoadGitleaks()
		if err != nil {
			b.Fatal(err)
		}
		whole.MaxDecodeDepth = cliDecodeDepth
		b.SetBytes(totalBytes(added))
		for b.Loop() {
			for _, t := range added {
				detectIn(context.Background(), whole, t, "x.go", 1)
			}
		}
	})
}

// BenchmarkChannels is the part of BenchmarkCheck that scans what is not
// file text: the 200 raw commits, the names the trees add, the ref name.
func BenchmarkChannels(b *testing.B) {
	p, _ := benchPush(b)
	c := newChecker(b, Config{KnownSecrets: benchKnown})
	w, err := attribute(p)
	if err != nil {
		b.Fatal(err)
	}
	chs, err := c.collect(context.Background(), p, w.order)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ch, err := c.scanChannels(context.Background(), p, w, chs.names)
		if err != nil || len(ch.secrets)+len(ch.objects) != 0 {
			b.Fatalf("scanChannels = %+v, %v; want nothing found", ch, err)
		}
	}
}

// benchKnown are the known secrets of a sidecar with one route
// credential and one repository key.
var benchKnown = []dlp.Secret{
	{Slot: "EGRESS_TOKEN_0", Value: secret.New("rt-q8Lm2Vx7Pz4Nw1Kc6Hd9"), Hosts: []string{"api.example.com"}},
	{Slot: "GIT_KEY_0", Value: secret.New("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n")},
}

// BenchmarkKnown is the part of BenchmarkCheck that looks for the known
// secrets in the added text.
func BenchmarkKnown(b *testing.B) {
	_, added := benchPush(b)
	c := newChecker(b, Config{KnownSecrets: benchKnown})
	b.SetBytes(totalBytes(added))
	for b.Loop() {
		for _, t := range added {
			if fs := c.knownInRuns(t, lineStarts(t), []lineRange{{1, len(lineStarts(t)) - 1}}); len(fs) != 0 {
				b.Fatalf("knownInRuns = %+v, want nothing", fs)
			}
		}
	}
}
