package pushcheck

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/gitgate"
)

// verdict is a rejection without its prose: the ref, the rule, and the
// detail lines that list commits (commit path:line rule=...).
type verdict struct {
	Ref   string
	Rule  string
	Items []string
}

func verdicts(rejs []gitgate.Rejection) []verdict {
	var out []verdict
	for _, rj := range rejs {
		v := verdict{Ref: rj.Ref.String(), Rule: rj.Rule}
		for _, d := range rj.Detail {
			item := strings.TrimPrefix(d, prefix)
			if len(item) > 11 && item[10] == ' ' && strings.Trim(item[:10], "0123456789abcdef") == "" {
				v.Items = append(v.Items, item)
			}
		}
		out = append(out, v)
	}
	return out
}

func short(h plumbing.Hash) string { return h.String()[:10] }

// assertNoLeak fails if any rejection text holds secret or a 6-character
// piece of it.
func assertNoLeak(t *testing.T, rejs []gitgate.Rejection, secret string) {
	t.Helper()
	for _, rj := range rejs {
		texts := append([]string{rj.Reason}, rj.Detail...)
		for _, a := range rj.Allowed {
			texts = append(texts, a.Commit, a.File, a.Rule, a.Reason)
		}
		for _, text := range texts {
			for i := 0; i+6 <= len(secret); i++ {
				if strings.Contains(text, secret[i:i+6]) {
					t.Errorf("rejection text %q holds %q, a piece of the secret", text, secret[i:i+6])
				}
			}
		}
	}
}

func TestCleanPushAccepted(t *testing.T) {
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"main.go": lines(1, 20), "README.md": "# proj\n"})
	f.publish()
	c1 := f.edit(base, map[string]string{"main.go": lines(1, 30)})
	c2 := f.edit(c1, map[string]string{"util/util.go": lines(5, 9), "README.md": deleted})
	rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c2)))
	if len(rejs) != 0 {
		t.Errorf("Check(clean push) = %+v, want no rejections", rejs)
	}
}

func TestSecretDetected(t *testing.T) {
	key := fakeAWSKey(1)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"config.py": lines(1, 20)})
	f.publish()

	// The key lands on line 12 of a file another commit of the push
	// created; the scan must count lines of the file, not of the diff.
	c1 := f.edit(base, map[string]string{"notes.txt": "nothing here\n"})
	c2 := f.edit(c1, map[string]string{"config.py": lines(1, 11) + "aws_id = \"" + key + "\"\n" + lines(12, 20)})
	// Added then removed in the same push: the history still holds it.
	c3 := f.edit(c2, map[string]string{"leak.env": "x = 1\n\nid=" + key + "\n"})
	c4 := f.edit(c3, map[string]string{"leak.env": deleted})

	rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c4)))
	want := []verdict{{Ref: "refs/heads/feature", Rule: RuleSecret, Items: []string{
		short(c2) + " config.py:12 rule=aws-access-token",
		short(c3) + " leak.env:3 rule=aws-access-token",
	}}}
	if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
		t.Errorf("Check verdicts (-want +got):\n%s", diff)
	}
	if len(rejs) == 1 {
		rj := rejs[0]
		if rj.Reason != "secret detected by git-gate" {
			t.Errorf("Reason = %q, want %q", rj.Reason, "secret detected by git-gate")
		}
		if got := strings.Join(rj.Detail, "\n"); !strings.Contains(got, "rewrite the commits") {
			t.Errorf("Detail does not say to rewrite the commits:\n%s", got)
		}
	}
	assertNoLeak(t, rejs, key)
}

func TestMarkerReasons(t *testing.T) {
	got := markerReasons("a\nk = 1 # gitleaks:allow test fixture, not live\nb // gitleaks:allow: rotated\nc # gitleaks:allow\n", 10)
	want := map[int]string{11: "test fixture, not live", 12: "rotated", 13: ""}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("markerReasons (-want +got):\n%s", d)
	}
}

func TestSuppressionNeedsApproval(t *testing.T) {
	allowed, plain := fakeAWSKey(2), fakeAWSKey(3)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"app.py": lines(1, 3)})
	f.publish()
	c1 := f.edit(base, map[string]string{"app.py": lines(1, 3) + "KEY = \"" + allowed + "\"  # gitleaks:allow\n"})

	t.Run("marked-only", func(t *testing.T) {
		rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c1)))
		want := []verdict{{Ref: "refs/heads/feature", Rule: RuleSuppression, Items: []string{short(c1) + " app.py:4 rule=aws-access-token"}}}
		if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
			t.Fatalf("Check verdicts (-want +got):\n%s", diff)
		}
		if !strings.Contains(rejs[0].Reason, "operator approval") {
			t.Errorf("Reason = %q, want it to say operator approval is needed", rejs[0].Reason)
		}
		if got := strings.Join(rejs[0].Detail, "\n"); !strings.Contains(got, "bot-bottle supervise") {
			t.Errorf("Detail does not say approval goes through bot-bottle supervise:\n%s", got)
		}
		// The operator may approve it: the finding, never the secret.
		if d := cmp.Diff([]gitgate.AllowMarked{{Commit: short(c1), File: "app.py", Line: 4, Rule: "aws-access-token"}}, rejs[0].Allowed); d != "" {
			t.Errorf("Allowed (-want +got):\n%s", d)
		}
		assertNoLeak(t, rejs, allowed)
	})
	t.Run("marked-and-plain", func(t *testing.T) {
		c2 := f.edit(c1, map[string]string{"other.py": "x = 1\nKEY2 = '" + plain + "'\n"})
		rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c2)))
		want := []verdict{
			{Ref: "refs/heads/feature", Rule: RuleSuppression, Items: []string{short(c1) + " app.py:4 rule=aws-access-token"}},
			{Ref: "refs/heads/feature", Rule: RuleSecret, Items: []string{short(c2) + " other.py:2 rule=aws-access-token"}},
		}
		if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
			t.Errorf("Check verdicts (-want +got):\n%s", diff)
		}
		assertNoLeak(t, rejs, allowed)
		assertNoLeak(t, rejs, plain)
	})
}

// TestBinaryFileScanned: a binary file's bytes are scanned too, as
// stored and as UTF-16, and a finding names the file without a line.
func TestBinaryFileScanned(t *testing.T) {
	key := fakeAWSKey(4)
	utf16 := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			b.WriteRune(r)
			b.WriteByte(0)
		}
		return b.String()
	}
	noise := string([]byte{0, 1, 2, 0xff, 0xfe, 0x89, 'P', 'N', 'G', 0x1a, 0})
	tests := []struct {
		name, content string
		want          []string // items, without the commit
	}{
		{"key in a binary", noise + " id=" + key + "\n" + noise, []string{"blob.bin rule=aws-access-token"}},
		{"key in UTF-16", noise + utf16("id="+key) + noise, []string{"blob.bin rule=aws-access-token"}},
		{"key in UTF-16 past git's binary sniff", strings.Repeat("plain text line\n", 600) + utf16("id="+key), []string{"blob.bin rule=aws-access-token"}},
		{"no key", noise + strings.Repeat("\x00\x10 plain words here \x7f", 50), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
			f.publish()
			c1 := f.edit(base, map[string]string{"blob.bin": tt.content})
			rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c1)))
			var want []verdict
			if tt.want != nil {
				v := verdict{Ref: "refs/heads/feature", Rule: RuleSecret}
				for _, it := range tt.want {
					v.Items = append(v.Items, short(c1)+" "+it)
				}
				want = []verdict{v}
			}
			if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
				t.Errorf("Check verdicts (-want +got):\n%s", diff)
			}
			assertNoLeak(t, rejs, key)
		})
	}
}

func TestPerRefAttribution(t *testing.T) {
	key := fakeAWSKey(5)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	clean := f.edit(base, map[string]string{"a.txt": "fine\n"})
	leaky := f.edit(base, map[string]string{"b.txt": "id " + key + "\n"})
	onLeaky := f.edit(leaky, map[string]string{"c.txt": "also fine\n"})

	rejs := check(t, newChecker(t, Config{}), f.push(create("clean", clean), create("leaky", leaky), create("built-on-leaky", onLeaky)))
	item := []string{short(leaky) + " b.txt:1 rule=aws-access-token"}
	want := []verdict{
		{Ref: "refs/heads/leaky", Rule: RuleSecret, Items: item},
		{Ref: "refs/heads/built-on-leaky", Rule: RuleSecret, Items: item},
	}
	if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
		t.Errorf("Check verdicts (-want +got):\n%s", diff)
	}
}

// A secret already upstream is not the push's: a commit that keeps it,
// or a merge that brings it in from the upstream, is accepted.
func TestUpstreamContentNotRescanned(t *testing.T) {
	key := fakeAWSKey(6)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"old.env": "id=" + key + "\n", "a.txt": "a\n"})
	feature := f.edit(base, map[string]string{"a.txt": "a\nb\n"})
	mainTip := f.edit(base, map[string]string{"later.env": "id2=" + key + "\n"})
	f.publish()
	renamed := f.edit(feature, map[string]string{"old.env": deleted, "moved.env": "id=" + key + "\n"})
	merge := f.commit([]plumbing.Hash{renamed, mainTip}, map[string]string{
		"moved.env": "id=" + key + "\n", "a.txt": "a\nb\n", "later.env": "id2=" + key + "\n",
	})
	if rejs := check(t, newChecker(t, Config{}), f.push(update("feature", feature, merge))); len(rejs) != 0 {
		t.Errorf("Check(rename and merge of upstream content) = %+v, want no rejections", rejs)
	}
}

// gitleaks' global allowlist skips some paths (lock files, vendored
// dependencies, images); the gate keeps the CLI's behaviour.
func TestGlobalPathAllowlist(t *testing.T) {
	key := fakeAWSKey(8)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	// gitleaks skips these paths; the agent chooses its file names, so
	// the gate must not.
	for _, path := range []string{"node_modules/dep/index.js", "docs/logo.svg", "package-lock.json"} {
		c1 := f.edit(base, map[string]string{path: "id = '" + key + "'\n"})
		if rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c1))); len(rejs) != 1 || rejs[0].Rule != RuleSecret {
			t.Errorf("Check(key in %s) = %+v, want one %s rejection", path, rejs, RuleSecret)
		}
	}
}

func TestDetailText(t *testing.T) {
	key := fakeAWSKey(10)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	c1 := f.edit(base, map[string]string{"config.py": "x = 1\nid = '" + key + "'\n"})
	rejs := check(t, newChecker(t, Config{}), f.push(create("feature", c1)))
	want := []gitgate.Rejection{{
		Ref: "refs/heads/feature", Rule: RuleSecret, Reason: "secret detected by git-gate",
		Detail: []string{
			"git-gate: PUSH REJECTED: new commits add 1 potential secret:",
			"git-gate: " + short(c1) + " config.py:2 rule=aws-access-token",
			"git-gate: Remove each secret and rewrite the commits that added it (git rebase -i, or git commit --amend for the last commit), then push again.",
			"git-gate: Deleting it in a later commit is not enough: the secret would stay in the pushed history.",
		},
	}}
	if diff := cmp.Diff(want, rejs); diff != "" {
		t.Errorf("Check rejections (-want +got):\n%s", diff)
	}
}
