package pushcheck

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"

	"github.com/bot-bottle/bot-bottle/internal/dlp"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// TestMergeKeepsOtherParentsNames: a merge brings in, from its second
// parent, a name already upstream; the merge does not add it, so it is
// not refused again.
func TestMergeKeepsOtherParentsNames(t *testing.T) {
	key := fakeAWSKey(21)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	fixture := f.edit(base, map[string]string{"testdata/" + key + ".json": "{}\n"}) // upstream already
	f.publish()
	work := f.edit(base, map[string]string{"main.go": "package main\n"})
	files := maps.Clone(f.files[work])
	maps.Copy(files, f.files[fixture])
	merge := f.commit([]plumbing.Hash{work, fixture}, files)
	if rejs := check(t, newChecker(t, Config{}), f.push(create("feature", merge))); len(rejs) != 0 {
		t.Errorf("Check(merge of an upstream name) = %+v, want no rejections", rejs)
	}
	// The same name added by a commit of the push is refused.
	added := f.edit(work, map[string]string{"testdata/" + key + ".json": "{}\n"})
	rejs := check(t, newChecker(t, Config{}), f.push(create("other", added)))
	want := []verdict{{Ref: "refs/heads/other", Rule: RuleSecret, Items: []string{short(added) + " the name of a file or folder it adds rule=aws-access-token"}}}
	if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
		t.Errorf("Check verdicts (-want +got):\n%s", diff)
	}
	assertNoLeak(t, rejs, key)
}

// TestTaintedNamesWithheld: a path or ref name that holds a secret is
// withheld from every rejection, also from those of other rules.
func TestTaintedNamesWithheld(t *testing.T) {
	key := fakeAWSKey(22)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	c1 := f.edit(base, map[string]string{".github/workflows/" + key + ".yml": "on: push\n"})
	rejs := check(t, newChecker(t, Config{Branches: []string{"allowed/*"}}), f.push(create("x-"+key, c1)))
	var rules []string
	for _, rj := range rejs {
		rules = append(rules, rj.Rule)
		if !rj.Withhold {
			t.Errorf("rejection %s of a ref whose name holds a secret is not withheld", rj.Rule)
		}
	}
	slices.Sort(rules)
	if diff := cmp.Diff([]string{RuleBranch, RuleProtected, RuleSecret}, rules); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	if got := strings.Join(rejs[0].Detail, "\n") + strings.Join(rejs[1].Detail, "\n"); !strings.Contains(got, withheld) {
		t.Errorf("details do not say a name was withheld:\n%s", got)
	}
	assertNoLeak(t, rejs, key)
}

// TestKnownSecretChannels: the sidecar's known secrets are found in file
// text (with the line), in binaries, names and push options.
func TestKnownSecretChannels(t *testing.T) {
	const token = "rt-" + "Zk29dLq0Xv7Mw3Np"
	c := newChecker(t, Config{KnownSecrets: []dlp.Secret{{Slot: "EGRESS_TOKEN_0", Value: secret.New(token)}}})
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	c1 := f.edit(base, map[string]string{"a.txt": "one\ntwo " + token + "\n", "b.bin": "\x00\x01" + token + "\x00", "dir-" + strings.ToUpper(hexOf(token)) + "/c": "x\n"})
	p := f.push(create("feature", c1))
	p.Options = []string{"ci.skip", "note=" + token}
	rejs := check(t, c, p)
	rule := "rule=" + knownRule + "EGRESS_TOKEN_0"
	var items []string
	for _, rj := range rejs {
		for _, d := range rj.Detail {
			if strings.HasSuffix(d, rule) {
				items = append(items, strings.TrimPrefix(d, prefix))
			}
		}
	}
	want := []string{
		short(c1) + " a.txt:2 " + rule,
		short(c1) + " b.bin " + rule,
		short(c1) + " the name of a file or folder it adds " + rule,
		"push option 2 " + rule,
	}
	if diff := cmp.Diff(want, items); diff != "" {
		t.Errorf("known-secret items (-want +got):\n%s", diff)
	}
	assertNoLeak(t, rejs, token)
	if c.HoldsSecret(context.Background(), "refs/heads/"+token) != true || c.HoldsSecret(context.Background(), "refs/heads/main") {
		t.Errorf("HoldsSecret does not tell a ref name holding the token from main")
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// TestRefNamesNewToTheUpstream: the name of every ref the upstream does
// not have is scanned, a delete of a ref that does not exist too (it
// would carry the name upstream); an existing ref's name is not.
func TestRefNamesNewToTheUpstream(t *testing.T) {
	key := fakeAWSKey(23)
	f := newFixture(t)
	base := f.edit(plumbing.ZeroHash, map[string]string{"README.md": "# proj\n"})
	f.publish()
	if err := f.repo.Storer.SetReference(plumbing.NewHashReference(refName("old-"+key), base)); err != nil {
		t.Fatal(err)
	}
	c1 := f.edit(base, map[string]string{"a.txt": "a\n"})
	rejs := check(t, newChecker(t, Config{}), f.push(del("gone-"+key, plumbing.ZeroHash), update("old-"+key, base, c1)))
	want := []verdict{{Ref: "refs/heads/gone-" + key, Rule: RuleSecret}}
	if diff := cmp.Diff(want, verdicts(rejs)); diff != "" {
		t.Errorf("Check verdicts (-want +got):\n%s", diff)
	}
	if len(rejs) == 1 && !rejs[0].Withhold {
		t.Errorf("the rejection of a ref whose name holds a secret is not withheld")
	}
	assertNoLeak(t, rejs, key)
}
