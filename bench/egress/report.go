package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }
func mb(b int64) string         { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// median returns the middle value (the upper one of an even count).
func median[T cmp.Ordered](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// summary is a mode's rounds of one scenario: the median of each rate,
// latency, CPU and RSS figure, the largest peak RSS and every error.
type summary struct {
	rounds           int
	reqs, mbs        float64
	reqsMin, reqsMax float64
	p50, p99         time.Duration
	cpuPct           float64
	cpuPerReq        time.Duration
	rss, hwm         int64
	errors           int64
	firstErr         string
}

// summary returns a mode's summary of a scenario, if it was measured.
func (r *run) summary(modeKey, scKey string) (summary, bool) {
	rs := r.results[modeKey][scKey]
	if len(rs) == 0 {
		return summary{}, false
	}
	var (
		s                   summary
		reqs, mbs, cpuPct   []float64
		p50, p99, cpuPerReq []time.Duration
		rss                 []int64
	)
	for _, x := range rs {
		reqs = append(reqs, x.reqPerSec())
		mbs = append(mbs, x.mbPerSec())
		cpuPct = append(cpuPct, 100*x.cpu.Seconds()/x.elapsed.Seconds())
		p50 = append(p50, x.p50)
		p99 = append(p99, x.p99)
		cpuPerReq = append(cpuPerReq, x.cpuPerReq())
		rss = append(rss, x.rss)
		s.hwm = max(s.hwm, x.hwm)
		s.errors += x.errors
		if s.firstErr == "" {
			s.firstErr = x.firstErr
		}
	}
	s.rounds = len(rs)
	s.reqs, s.reqsMin, s.reqsMax = median(reqs), slices.Min(reqs), slices.Max(reqs)
	s.mbs, s.cpuPct = median(mbs), median(cpuPct)
	s.p50, s.p99, s.cpuPerReq = median(p50), median(p99), median(cpuPerReq)
	s.rss = median(rss)
	return s, true
}

// The CPU target: 60 µs per request at concurrency 8, where a bare
// Go MITM without policy or DLP spends about 40 µs. It assumes a faster
// machine than most, so it is also judged against the bare Go MITM
// measured alongside: what policy and DLP may add is 60 − 40 = 20 µs.
const (
	cpuTarget     = 60 * time.Microsecond
	bareAllowance = 20 * time.Microsecond
)

// overBare returns a mode's CPU per request in a scenario minus the bare Go
// MITM's, and the bare Go MITM's.
func (r *run) overBare(modeKey, scKey string) (over, bare time.Duration, ok bool) {
	a, ok1 := r.summary(modeKey, scKey)
	b, ok2 := r.summary(modeBare, scKey)
	if !ok1 || !ok2 || a.reqs == 0 || b.reqs == 0 {
		return 0, 0, false
	}
	return a.cpuPerReq - b.cpuPerReq, b.cpuPerReq, true
}

// bareplus formats a CPU time over the bare Go MITM's as "bare + X µs".
func bareplus(d time.Duration) string {
	if d < 0 {
		return "bare − " + us(-d)
	}
	return "bare + " + us(d)
}

// check is one target of the issue, evaluated for the bot-bottle modes.
type check struct {
	name string
	goal string
	// eval returns the measured value, formatted, and whether it meets
	// the goal; ok is false when it could not be measured.
	eval func(modeKey string) (shown string, pass, ok bool)
}

func (r *run) checks() []check {
	ratio := func(scKey string, metric func(summary) float64, want float64) func(string) (string, bool, bool) {
		return func(m string) (string, bool, bool) {
			a, ok1 := r.summary(m, scKey)
			b, ok2 := r.summary(modeMitm, scKey)
			if !ok1 || !ok2 || metric(b) == 0 {
				return "n/a", false, false
			}
			x := metric(a) / metric(b)
			return fmt.Sprintf("%.1f×", x), x >= want, true
		}
	}
	reqs := func(x summary) float64 { return x.reqs }
	mbs := func(x summary) float64 { return x.mbs }
	return []check{
		{"keep-alive 1 KiB at concurrency 64, req/s vs mitmdump", "≥ 15×", ratio("ka64", reqs, 15)},
		{"proxy CPU per request, keep-alive 1 KiB at concurrency 8", "≤ 60 µs", func(m string) (string, bool, bool) {
			a, ok := r.summary(m, "ka8")
			if !ok || a.reqs == 0 {
				return "n/a", false, false
			}
			return us(a.cpuPerReq), a.cpuPerReq <= cpuTarget, true
		}},
		{"proxy CPU per request, keep-alive 1 KiB at concurrency 8, over the bare Go MITM (the 60 µs target on this machine)", "≤ bare + 20 µs", func(m string) (string, bool, bool) {
			over, _, ok := r.overBare(m, "ka8")
			if !ok {
				return "n/a", false, false
			}
			return bareplus(over), over <= bareAllowance, true
		}},
		{"new connection per request at concurrency 8, req/s vs mitmdump", "≥ 4×", ratio("new8", reqs, 4)},
		{"1 MiB responses at concurrency 8, MB/s vs mitmdump", "≥ 2.5×", ratio("big8", mbs, 2.5)},
		{"p99 added latency at concurrency 1 (p99 − direct p99)", "≤ 1 ms", func(m string) (string, bool, bool) {
			a, ok1 := r.summary(m, "ka1")
			d, ok2 := r.summary(modeDirect, "ka1")
			if !ok1 || !ok2 {
				return "n/a", false, false
			}
			added := a.p99 - d.p99
			return ms(added), added <= time.Millisecond, true
		}},
		{"proxy RSS after keep-alive at concurrency 64", "≤ 40 MB", func(m string) (string, bool, bool) {
			a, ok := r.summary(m, "ka64")
			if !ok {
				return "n/a", false, false
			}
			return mb(a.rss), a.rss <= 40e6, true
		}},
		{"cold start to the first proxied request (median)", "≤ 50 ms", func(m string) (string, bool, bool) {
			c := r.cold[m]
			if len(c) == 0 {
				return "n/a", false, false
			}
			return ms(median(c)), median(c) <= 50*time.Millisecond, true
		}},
	}
}

func verdict(pass, ok bool) string {
	switch {
	case !ok:
		return "n/a"
	case pass:
		return "PASS"
	default:
		return "**MISS**"
	}
}

// markdown renders the run as the report in docs/benchmarks/egress.md.
func (r *run) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Egress proxy benchmark\n\n")
	p("Generated by `bench/egress`; do not edit by hand, rerun it.\n\n")
	p("- **Date:** %s (took %s)\n", r.started.Format("2006-01-02 15:04 MST"), r.finished.Sub(r.started).Round(time.Second))
	p("- **Machine:** %s; client, origin and proxy share these cores\n", r.machine)
	p("- **Versions:** %s\n", strings.Join(r.versions, "; "))
	p("- **Command** (from the repository root): `%s`\n", r.command)
	p("- **Rounds:** %d, each with freshly started proxies; in a round every scenario runs through each mode in turn (%s warm-up on the same connections, then %s measured). ",
		r.opts.rounds, r.opts.warmup, r.opts.duration)
	p("Figures are the medians of the rounds, so every target is decided on the median.\n\n")

	p("## Targets\n\n")
	p("The targets are for bot-bottle with DLP on; DLP off is shown for comparison.\n\n")
	p("| target | goal | DLP on | result | DLP off | result |\n|---|---|---:|---|---:|---|\n")
	for _, c := range r.checks() {
		on, onPass, onOK := c.eval(modeDLPOn)
		off, offPass, offOK := c.eval(modeDLPOff)
		p("| %s | %s | %s | %s | %s | %s |\n", c.name, c.goal, on, verdict(onPass, onOK), off, verdict(offPass, offOK))
	}
	p("\n")
	p("The CPU target of %d µs assumes a machine on which a bare Go MITM without policy or DLP spends about 40 µs per request, ", cpuTarget.Microseconds())
	p("which leaves %d µs for policy and DLP. On this machine it is judged against the bare Go MITM measured alongside (same scenario, same rounds): ", bareAllowance.Microseconds())
	if over, bare, ok := r.overBare(modeDLPOn, "ka8"); ok {
		on, _ := r.summary(modeDLPOn, "ka8")
		p("the bare Go MITM spends %s per request at concurrency 8, so the target here is bot-bottle DLP on ≤ bare + %d µs = %s. ", us(bare), bareAllowance.Microseconds(), us(bare+bareAllowance))
		p("bot-bottle DLP on spends %s = %s: %s against the bare reference, %s against the absolute %d µs.\n\n",
			us(on.cpuPerReq), bareplus(over), verdict(over <= bareAllowance, true), verdict(on.cpuPerReq <= cpuTarget, true), cpuTarget.Microseconds())
	} else {
		p("bot-bottle DLP on ≤ bare + %d µs (not measured in this run).\n\n", bareAllowance.Microseconds())
	}

	r.beforeSection(p)

	p("## Scenarios\n\n")
	p("MB is 10⁶ bytes. MB/s counts request and response bodies. Proxy CPU is user plus system time of the proxy's process during the measured phase ")
	p("(100%% is one core of %s); RSS is VmRSS at the end of the scenario (the proxy has run the scenarios above it in the same round), peak RSS the largest VmHWM of the rounds.\n\n", strings.SplitN(r.machine, ",", 2)[0])
	for _, sc := range r.scenarios {
		p("### %s\n\n", sc.title)
		p("| |")
		for _, m := range r.modes {
			p(" %s |", m.name)
		}
		p("\n|---|%s\n", strings.Repeat("---:|", len(r.modes)))
		row := func(label string, f func(summary, mode) string) {
			p("| %s |", label)
			for _, m := range r.modes {
				res, ok := r.summary(m.key, sc.key)
				if ok {
					p(" %s |", f(res, m))
				} else {
					p(" n/a |")
				}
			}
			p("\n")
		}
		proxied := func(f func(summary) string) func(summary, mode) string {
			return func(res summary, m mode) string {
				if m.launch == nil {
					return "–"
				}
				return f(res)
			}
		}
		row("req/s", func(x summary, _ mode) string { return fmt.Sprintf("%.0f", x.reqs) })
		row("req/s, slowest–fastest round", func(x summary, _ mode) string { return fmt.Sprintf("%.0f–%.0f", x.reqsMin, x.reqsMax) })
		row("MB/s", func(x summary, _ mode) string { return fmt.Sprintf("%.1f", x.mbs) })
		row("p50", func(x summary, _ mode) string { return ms(x.p50) })
		row("p99", func(x summary, _ mode) string { return ms(x.p99) })
		row("proxy CPU", proxied(func(x summary) string { return fmt.Sprintf("%.0f%%", x.cpuPct) }))
		row("proxy CPU per request", proxied(func(x summary) string { return us(x.cpuPerReq) }))
		row("proxy RSS", proxied(func(x summary) string { return mb(x.rss) }))
		row("proxy peak RSS", proxied(func(x summary) string { return mb(x.hwm) }))
		row("errors", func(x summary, _ mode) string { return fmt.Sprintf("%d", x.errors) })
		var ratios []string
		for _, mk := range []string{modeDLPOn, modeDLPOff} {
			a, ok1 := r.summary(mk, sc.key)
			m, ok2 := r.summary(modeMitm, sc.key)
			if ok1 && ok2 && m.reqs > 0 {
				ratios = append(ratios, fmt.Sprintf("%s %.1f×", r.modeName(mk), a.reqs/m.reqs))
			}
		}
		if len(ratios) > 0 {
			p("\nreq/s vs mitmdump: %s.\n", strings.Join(ratios, ", "))
		}
		var errs []string
		for _, m := range r.modes {
			if res, ok := r.summary(m.key, sc.key); ok && res.firstErr != "" {
				errs = append(errs, fmt.Sprintf("%s: `%s`", m.name, res.firstErr))
			}
		}
		if len(errs) > 0 {
			p("\nFirst errors: %s.\n", strings.Join(errs, "; "))
		}
		p("\n")
	}

	p("## Cold start\n\n")
	p("From exec to the first successful proxied `GET /small`, polled every millisecond on a new connection, once per round with a fresh CA folder ")
	p("(the proxy creates its CA, the client trusts it as soon as it is written).\n\n")
	p("| | median | runs |\n|---|---:|---|\n")
	for _, m := range r.modes {
		if m.launch == nil || len(r.cold[m.key]) == 0 {
			continue
		}
		runs := make([]string, 0, len(r.cold[m.key]))
		for _, c := range r.cold[m.key] {
			runs = append(runs, ms(c))
		}
		p("| %s | %s | %s |\n", m.name, ms(median(r.cold[m.key])), strings.Join(runs, ", "))
	}
	p("\n")

	p("## Credential injection\n\n")
	p("The origin counts requests whose `Authorization` is not the injected `Bearer` token (the client sends none through the proxies, and the token itself when direct).\n\n")
	p("| | requests without the credential |\n|---|---:|\n")
	for _, m := range r.modes {
		if _, measured := r.results[m.key]; measured {
			p("| %s | %d |\n", m.name, r.authBad[m.key])
		}
	}
	p("\n")
	p(methodNotes)
	return b.String()
}

func (r *run) modeName(key string) string {
	for _, m := range r.modes {
		if m.key == key {
			return m.name
		}
	}
	return key
}

const methodNotes = `## How it is measured

- **Origin:** a Go HTTPS server on 127.0.0.1 (HTTP/1.1 and h2) with a
  certificate for ` + "`api.bench.test`" + ` from a CA the benchmark mints.
  ` + "`GET /small`" + ` returns 1 KiB of JSON text, ` + "`GET /big`" + ` 1 MiB of
  ` + "`application/octet-stream`" + `, ` + "`POST /upload`" + ` discards the body. The
  name never resolves: the client dials the origin's address for it, and
  the proxies pin it (` + "`--resolve`" + ` for bot-bottle, ` + "`-resolve`" + ` for the bare
  Go MITM, the addon for mitmdump).
- **bot-bottle:** ` + "`bot-bottle egress serve`" + ` of a bottle with one route to
  ` + "`api.bench.test`" + ` injecting ` + "`Authorization: Bearer $BENCH_TOKEN`" + `: with
  the default DLP (outbound ` + "`token_patterns`" + ` and ` + "`known_secrets`" + `, inbound
  ` + "`naive_injection_detection`" + `) and with ` + "`dlp: {outbound_detectors: false,\n  inbound_detectors: false}`" + ` (known secrets are still looked for outside
  their hosts, as the proxy always does).
- **bare Go MITM:** the reference point for this machine's speed: the
  benchmark binary re-executed as ` + "`-bare-proxy ADDR`" + ` (` + "`bench/egress/bare.go`" + `), a
  minimal MITM without policy or DLP. It answers CONNECT, intercepts TLS
  with its own ECDSA P-256 CA (one leaf per host, cached), and forwards each
  request of the tunnel with ` + "`httputil.ReverseProxy`" + ` (a Rewrite setting the
  scheme, host and the same ` + "`Authorization`" + ` header) over an
  ` + "`http.Transport`" + ` with default settings apart from
  ` + "`MaxIdleConnsPerHost: 64`" + `, the origin's CA and its pinned address
  (HTTP/1.1 upstream, like bot-bottle for HTTP/1.1 clients).
- **mitmdump:** Debian's ` + "`mitmproxy`" + ` package, default options, with an addon
  (` + "`bench/egress/addon.py`" + `) that refuses other hosts with 403 and injects the
  same header; no DLP. It verifies the origin against the benchmark's CA
  (` + "`ssl_verify_upstream_trusted_ca`" + `).
- **Client:** Go ` + "`net/http`" + `, HTTP/1.1 to the proxy and inside the tunnel
  (CONNECT, then TLS with the proxy's CA), N goroutines sending back to back
  for a fixed time. Keep-alive scenarios keep one connection per goroutine;
  "new connection" disables keep-alive, so each request is a TCP connect,
  CONNECT and TLS handshake. Upstream, each proxy picks its own protocol
  and connection reuse (the origin offers h2 and HTTP/1.1); mitmdump, by
  default, connects upstream as soon as the CONNECT arrives.
- **Proxy CPU and memory:** from ` + "`/proc/PID/stat`" + ` (utime + stime, in
  ` + "`getconf CLK_TCK`" + ` ticks) around the measured phase, and
  ` + "`/proc/PID/status`" + ` (VmRSS, VmHWM) at its end. CPU per request is that CPU
  time over the requests completed: the fairest comparison on a machine
  where the client, the origin and the proxy compete for the same cores.
- **Latency:** per request, from sending to the last body byte read, over
  the measured phase; p50 and p99 by nearest rank.
`

// maxLoss is how much worse than the -before build any DLP-on figure may
// be: a change that adds scanning must not cost more than this.
const maxLoss = 0.10

// beforeSection compares DLP on with the -before build's DLP on, figure by
// figure, when one was measured.
func (r *run) beforeSection(p func(string, ...any)) {
	if _, ok := r.results[modeBefore]; !ok {
		return
	}
	p("## Against the build before\n\n")
	p("bot-bottle DLP on against the `-before` binary's DLP on, measured in the same rounds (modes rotate, so neither always runs first). ")
	p("A figure loses when it is more than %.0f%% worse: lower req/s or MB/s, higher CPU per request, p99 or RSS.\n\n", 100*maxLoss)
	p("| scenario | figure | before | now | change | result |\n|---|---|---:|---:|---:|---|\n")
	type figure struct {
		name   string
		value  func(summary) float64
		show   func(float64) string
		higher bool // higher is better
	}
	figs := []figure{
		{"req/s", func(x summary) float64 { return x.reqs }, func(v float64) string { return fmt.Sprintf("%.0f", v) }, true},
		{"MB/s", func(x summary) float64 { return x.mbs }, func(v float64) string { return fmt.Sprintf("%.1f", v) }, true},
		{"proxy CPU per request", func(x summary) float64 { return float64(x.cpuPerReq) }, func(v float64) string { return us(time.Duration(v)) }, false},
		{"p99", func(x summary) float64 { return float64(x.p99) }, func(v float64) string { return ms(time.Duration(v)) }, false},
		{"proxy RSS", func(x summary) float64 { return float64(x.rss) }, func(v float64) string { return mb(int64(v)) }, false},
	}
	lost := 0
	for _, sc := range r.scenarios {
		now, ok1 := r.summary(modeDLPOn, sc.key)
		before, ok2 := r.summary(modeBefore, sc.key)
		if !ok1 || !ok2 {
			continue
		}
		for _, f := range figs {
			b, n := f.value(before), f.value(now)
			if b == 0 {
				continue
			}
			change := n/b - 1
			worse := -change
			if !f.higher {
				worse = change
			}
			pass := worse <= maxLoss
			if !pass {
				lost++
			}
			p("| %s | %s | %s | %s | %+.1f%% | %s |\n", sc.title, f.name, f.show(b), f.show(n), 100*change, verdict(pass, true))
		}
	}
	if c, b := r.cold[modeDLPOn], r.cold[modeBefore]; len(c) > 0 && len(b) > 0 {
		n, o := median(c), median(b)
		change := float64(n)/float64(o) - 1
		pass := change <= maxLoss
		if !pass {
			lost++
		}
		p("| cold start | median | %s | %s | %+.1f%% | %s |\n", ms(o), ms(n), 100*change, verdict(pass, true))
	}
	p("\n")
	if lost == 0 {
		p("No DLP-on figure lost more than %.0f%%: **PASS**.\n\n", 100*maxLoss)
	} else {
		p("%d DLP-on figures lost more than %.0f%%: **MISS**.\n\n", lost, 100*maxLoss)
	}
}
