package pushcheck

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
)

// plants are snippets that hold secrets of several gitleaks rules, built
// at run time so that this file holds none. Some span several lines.
func plants(r *rand.Rand) []string {
	alnum := func(n int) string {
		const chars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	aws := fakeAWSKey(r.Uint64())
	pemBody := ""
	for range 6 {
		pemBody += base64.StdEncoding.EncodeToString([]byte(alnum(48))) + "\n"
	}
	b64url := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return []string{
		"aws_access_key_id = " + aws,
		"\tapiKey := \"" + alnum(28) + "\"",
		"auth:\n  token:\n      " + alnum(32),
		"password =\n\n  '" + alnum(20) + "'",
		"gh := \"gh" + "p_" + alnum(36) + "\"",
		"-----BEGIN RSA " + "PRIVATE KEY-----\n" + pemBody + "-----END RSA " + "PRIVATE KEY-----",
		"blob = \"" + base64.StdEncoding.EncodeToString([]byte("aws_access_key_id="+aws)) + "\"",
		"jwt = \"" + b64url(`{"alg":"HS256","typ":"JWT"}`) + "." + b64url(`{"sub":"`+alnum(12)+`","name":"x"}`) + "." + alnum(43) + "\"",
		"curl -s \\\n  -H \"Authorization: Bearer " + alnum(40) + "\" https://api.example.com/v1",
		"STRIPE=sk" + "_live_" + alnum(24),
		"slack: xox" + "b-" + fmt.Sprint(1e12+r.Int64N(1e11)) + "-" + fmt.Sprint(1e12+r.Int64N(1e11)) + "-" + alnum(24),
	}
}

// TestScanMatchesGitleaks checks that scanning in windows finds what
// gitleaks finds over the whole text, with secrets planted in generated
// source at random lines, next to each other, and at the ends, and in
// files some of whose rules' allowlists skip.
func TestScanMatchesGitleaks(t *testing.T) {
	d := detector(t)
	whole, err := dlp.LoadGitleaks()
	if err != nil {
		t.Fatalf("loading gitleaks: %v", err)
	}
	whole.MaxDecodeDepth = cliDecodeDepth
	whole.IgnoreGitleaksAllow = true
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			src := strings.Split(newSourceGen(seed).file(8000), "\n")
			for _, p := range plants(r) {
				at := r.IntN(len(src) + 1)
				switch seed % 4 {
				case 1:
					at = 0
				case 2:
					at = len(src)
				}
				src = slices.Insert(src, at, p)
			}
			text := strings.Join(src, "\n")
			path := []string{"app/config.go", "node/@octokit/auth-token/README.md", "recipes/x.bb", "web/logo.svg"}[seed%4]
			if seed%3 == 0 {
				text += "\n"
			}
			var want []string
			// The gate scans the paths gitleaks' global allowlist skips
			// (logo.svg); compare with gitleaks over a path it scans.
			refPath := strings.Replace(path, ".svg", ".txt", 1)
			for _, f := range detectIn(context.Background(), whole, text, refPath, 1) {
				want = append(want, fmt.Sprintf("%d %s", f.StartLine, f.RuleID))
			}
			var got []string
			fs, _ := d.scanFile(context.Background(), path, text, lineStarts(text), []lineRange{{1, len(lineStarts(text)) - 1}})
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%d %s", f.line, f.rule))
			}
			slices.Sort(want)
			want = slices.Compact(want)
			slices.Sort(got)
			got = slices.Compact(got)
			if len(want) < 9 {
				t.Errorf("gitleaks found only %d of the planted secrets: %q", len(want), want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("scanRun findings differ from gitleaks over the whole text (-gitleaks +scanRun):\n%s", diff)
			}
		})
	}
}

func TestDetectorConcurrent(t *testing.T) {
	d := detector(t)
	key := fakeAWSKey(9)
	text := lines(1, 30) + "id = " + key + "\n" + lines(32, 60)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			fs, _ := d.scanFile(context.Background(), "a.py", text, lineStarts(text), []lineRange{{1, 60}})
			if len(fs) != 1 || fs[0].line != 31 || fs[0].rule != "aws-access-token" {
				t.Errorf("scanFile = %+v, want one aws-access-token on line 31", fs)
			}
		})
	}
	wg.Wait()
}

func TestBlankMarkers(t *testing.T) {
	text := "a\nb # gitleaks:allow gitleaks:allow\nc\n// gitleaks:allow\n"
	got, marked := blankMarkers(text, 10)
	if len(got) != len(text) || strings.Contains(got, allowMarker) {
		t.Errorf("blankMarkers(%q) = %q, want the markers blanked in place", text, got)
	}
	if want := []int{11, 13}; !slices.Equal(marked, want) {
		t.Errorf("blankMarkers(%q) marked lines %v, want %v", text, marked, want)
	}
}

func TestWindows(t *testing.T) {
	tests := []struct {
		lines                []int
		before, after, total int
		want                 []lineRange
	}{
		{nil, 0, 9, 100, nil},
		{[]int{0}, 0, 9, 100, []lineRange{{0, 9}}},
		{[]int{5, 14, 15, 40}, 0, 9, 100, []lineRange{{5, 24}, {40, 49}}},
		{[]int{5, 20}, 2, 2, 100, []lineRange{{3, 7}, {18, 22}}},
		{[]int{5, 10}, 2, 2, 100, []lineRange{{3, 12}}},
		{[]int{1, 98}, 3, 3, 100, []lineRange{{0, 4}, {95, 99}}},
	}
	for _, tt := range tests {
		if got := windows(tt.lines, tt.before, tt.after, tt.total); !slices.Equal(got, tt.want) {
			t.Errorf("windows(%v, %d, %d, %d) = %v, want %v", tt.lines, tt.before, tt.after, tt.total, got, tt.want)
		}
	}
}
