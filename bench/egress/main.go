// Command egress benchmarks bot-bottle's egress proxy on loopback against
// direct connections, a bare Go MITM proxy (this binary re-executed with
// -bare-proxy: the machine's reference point) and mitmdump (Debian's
// mitmproxy package, with an allowlist-and-inject addon), and writes the
// results as Markdown.
//
// It is a manual benchmark, not a test: run it with `make bench-egress`.
// Every connection it makes is to 127.0.0.1.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin      string
	before   string
	mitmdump string
	duration time.Duration
	warmup   time.Duration
	rounds   int
	out      string
	modes    string
	only     string
}

// mode is one way for the client to reach the origin: a column of the
// report.
type mode struct {
	key    string
	name   string
	launch launcher // nil: direct
}

// Mode keys.
const (
	modeDirect = "direct"
	modeBare   = "bare"
	modeDLPOn  = "dlp-on"
	modeDLPOff = "dlp-off"
	modeMitm   = "mitmdump"
	// modeBefore is DLP on with the -before binary: the build a change
	// is judged against, measured in the same rounds.
	modeBefore = "dlp-on-before"
)

var modeKeys = []string{modeDirect, modeBare, modeDLPOn, modeDLPOff, modeMitm, modeBefore}

// run is everything one invocation measured.
type run struct {
	opts      options
	started   time.Time
	finished  time.Time
	machine   string
	versions  []string
	command   string
	modes     []mode
	scenarios []scenario
	results   map[string]map[string][]result // mode, scenario: one per round
	cold      map[string][]time.Duration     // mode
	authBad   map[string]int64               // mode
}

func main() {
	do := mainErr
	if len(os.Args) > 1 && os.Args[1] == bareFlag {
		do = func() error { return bareMain(os.Args[2:]) }
	}
	if err := do(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-egress:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var o options
	flag.StringVar(&o.bin, "bin", "./bin/bot-bottle", "bot-bottle binary to measure")
	flag.StringVar(&o.before, "before", "", "an earlier bot-bottle binary to measure with DLP on alongside -bin, and to judge -bin against (at most 10% lost in any figure)")
	flag.StringVar(&o.mitmdump, "mitmdump", "mitmdump", "mitmdump to compare with")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured time per scenario and mode")
	flag.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "unmeasured load before each measurement, on the same connections")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds, each with fresh proxies (medians are reported)")
	flag.StringVar(&o.out, "out", "docs/benchmarks/egress.md", `Markdown report to write ("" only prints it)`)
	flag.StringVar(&o.modes, "modes", strings.Join(modeKeys, ","), "modes to measure, comma-separated")
	flag.StringVar(&o.only, "scenarios", strings.Join(scenarioKeys(), ","), "scenarios to run, comma-separated")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if o.duration <= 0 || o.warmup < 0 || o.rounds < 1 {
		return errors.New("-duration must be positive, -warmup not negative and -rounds at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := measure(ctx, o)
	if err != nil {
		return err
	}
	report := r.markdown()
	fmt.Print(report)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o750); err != nil {
			return fmt.Errorf("creating the report's folder: %w", err)
		}
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		fmt.Fprintf(os.Stderr, "bench-egress: wrote %s\n", o.out)
	}
	return nil
}

func measure(ctx context.Context, o options) (*run, error) {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, fmt.Errorf("-bin: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("-bin: %w (run make build)", err)
	}
	wantModes, err := pick("-modes", o.modes, modeKeys)
	if err != nil {
		return nil, err
	}
	wantScenarios, err := pick("-scenarios", o.only, scenarioKeys())
	if err != nil {
		return nil, err
	}
	mitm := ""
	if wantModes[modeMitm] {
		if mitm, err = exec.LookPath(o.mitmdump); err != nil {
			return nil, fmt.Errorf("-mitmdump: %w (apt-get install mitmproxy)", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this binary, to run the bare Go MITM: %w", err)
	}
	ticks, err := clockTicks(ctx)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "bench-egress-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	token := "bench" + hex.EncodeToString(tok)
	org, err := startOrigin(tmp, token)
	if err != nil {
		return nil, err
	}
	defer func() { _ = org.close() }()
	home, err := writeHome(tmp)
	if err != nil {
		return nil, err
	}

	r := &run{
		opts:     o,
		started:  time.Now(),
		machine:  machineFacts(ctx),
		command:  commandLine(),
		results:  map[string]map[string][]result{},
		cold:     map[string][]time.Duration{},
		authBad:  map[string]int64{},
		versions: []string{toolVersion(ctx, bin, "version")},
	}
	for _, sc := range scenarios() {
		if wantScenarios[sc.key] {
			r.scenarios = append(r.scenarios, sc)
		}
	}
	all := []mode{
		{key: modeDirect, name: "direct"},
		{key: modeBare, name: "bare Go MITM", launch: bareLauncher(self, token, org)},
		{key: modeDLPOn, name: "bot-bottle DLP on", launch: botBottle(bin, home, bottleDLPOn, token, org)},
		{key: modeDLPOff, name: "bot-bottle DLP off", launch: botBottle(bin, home, bottleDLPOff, token, org)},
	}
	if o.before != "" {
		before, err := filepath.Abs(o.before)
		if err != nil {
			return nil, fmt.Errorf("-before: %w", err)
		}
		if _, err := os.Stat(before); err != nil {
			return nil, fmt.Errorf("-before: %w (build the earlier commit first)", err)
		}
		all = append(all, mode{key: modeBefore, name: "bot-bottle DLP on, before", launch: botBottle(before, home, bottleDLPOn, token, org)})
		r.versions = append(r.versions, "before: "+toolVersion(ctx, before, "version"))
	}
	if mitm != "" {
		addon := filepath.Join(tmp, "addon.py")
		if err := os.WriteFile(addon, mitmAddon, 0o600); err != nil {
			return nil, fmt.Errorf("writing the mitmdump addon: %w", err)
		}
		all = append(all, mode{key: modeMitm, name: "mitmdump", launch: mitmdump(mitm, addon, token, org)})
		r.versions = append(r.versions, strings.ReplaceAll(toolVersion(ctx, mitm, "--version"), "Mitmproxy: ", "mitmproxy "))
	}
	for _, m := range all {
		if wantModes[m.key] || (m.key == modeBefore && o.before != "") {
			r.modes = append(r.modes, m)
			r.results[m.key] = map[string][]result{}
		}
	}

	for round := range o.rounds {
		if err := r.measureRound(ctx, round, tmp, org, ticks); err != nil {
			return nil, fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	r.finished = time.Now()
	return r, nil
}

// measureRound starts every proxy afresh (measuring its cold start), then
// runs each scenario through each mode in turn, so that the modes compared
// in a scenario ran moments apart; the order of the modes rotates from
// round to round.
func (r *run) measureRound(ctx context.Context, round int, tmp string, org *origin, ticks int64) error {
	targets := make([]target, len(r.modes))
	for i, m := range r.modes {
		if m.launch == nil {
			targets[i] = target{roots: org.roots, auth: org.want}
			continue
		}
		p, cold, err := start(ctx, m.launch, filepath.Join(tmp, m.key, fmt.Sprintf("round%d", round+1)), org)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		defer p.stop()
		targets[i] = target{proxy: p.url, roots: p.roots, pid: p.pid()}
		r.cold[m.key] = append(r.cold[m.key], cold)
		progress("round %d: %s: cold start %s", round+1, m.name, ms(cold))
	}
	org.authMismatches()
	for _, sc := range r.scenarios {
		for j := range r.modes {
			i := (j + round) % len(r.modes)
			m, tg := r.modes[i], targets[i]
			if err := ctx.Err(); err != nil {
				return err
			}
			res, err := runScenario(ctx, tg, org.addr, sc, r.opts.warmup, r.opts.duration, ticks)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", m.name, sc.title, err)
			}
			r.authBad[m.key] += org.authMismatches()
			r.results[m.key][sc.key] = append(r.results[m.key][sc.key], res)
			line := fmt.Sprintf("round %d: %s: %s: %.0f req/s, %.1f MB/s, p50 %s, p99 %s, %d errors",
				round+1, m.name, sc.title, res.reqPerSec(), res.mbPerSec(), ms(res.p50), ms(res.p99), res.errors)
			if tg.pid != 0 {
				line += fmt.Sprintf("; proxy %s CPU/req, RSS %s", us(res.cpuPerReq()), mb(res.rss))
			}
			progress("%s", line)
			if res.firstErr != "" {
				progress("  first error: %s", res.firstErr)
			}
		}
	}
	return nil
}

// pick parses a comma-separated selection out of known keys.
func pick(flagName, list string, known []string) (map[string]bool, error) {
	want := map[string]bool{}
	for k := range strings.SplitSeq(list, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%s: unknown %q (known: %s)", flagName, k, strings.Join(known, ", "))
		}
		want[k] = true
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("%s: nothing selected", flagName)
	}
	return want, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench-egress: "+format+"\n", args...)
}

// commandLine is how this run was started, for the report.
func commandLine() string {
	args := slices.Clone(os.Args[1:])
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " '\"$") {
			args[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	c := strings.TrimSpace("go run ./bench/egress " + strings.Join(args, " "))
	if os.Getenv("MAKELEVEL") != "" {
		return "make bench-egress  # runs: " + c
	}
	return c
}
