// Package contract is the sidecar contract, written once: the versioned
// launch document every backend hands the sidecar on its standard input,
// the one readiness line the sidecar answers with on its standard output,
// and the agent's environment that points at it.
//
// It never reads a manifest and never writes a secret anywhere: the
// document travels over a pipe (native) or an attached stream (Docker),
// never argv, the environment or a file.
package contract

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/bot-bottle/bot-bottle/internal/backend"
	"github.com/bot-bottle/bot-bottle/internal/policy"
	"github.com/bot-bottle/bot-bottle/internal/secret"
)

// Version is the launch document version this binary writes and reads.
// A sidecar refuses any other: use one binary for the host and the sidecar.
const Version = 1

// maxDocument caps what the sidecar reads from its standard input.
const maxDocument = 16 << 20

// Document is everything a sidecar needs: the compiled policy, its
// secrets, the interception CA and where to serve.
type Document struct {
	Version int
	Bottle  string
	// Policy is the compiled policy (policy.Policy's JSON); it holds slot
	// names, never secrets.
	Policy json.RawMessage
	// CACert and CAKey are the bottle's interception CA in PEM.
	CACert []byte
	CAKey  secret.Value
	// UpstreamCA, when set, is PEM the sidecar trusts upstream.
	UpstreamCA []byte
	// Secrets holds each slot's secret (policy.Slots).
	Secrets map[string]secret.Value
	// Resolve pins upstream names: host -> addr:port.
	Resolve map[string]string
	// ControlToken authenticates the host on the control channel; the
	// bottle never sees it.
	ControlToken secret.Value
	// SuperviseTimeout is how long a proposal waits for the operator;
	// zero is the default.
	SuperviseTimeout time.Duration
	Runtime
}

// Runtime is where one backend has the sidecar serve and keep its files.
type Runtime struct {
	// Listen is the egress proxy's address: ":9099" or "unix:PATH".
	Listen string
	// DNS, when set, is the resolver's address (UDP and TCP).
	DNS string
	// Audit, when set, is the audit log file.
	Audit string
	// GitDir holds the git gate's mirrors.
	GitDir string
	// Control is the host's control channel listener: "127.0.0.1:PORT"
	// inside the sidecar's own network namespace, or "unix:PATH".
	Control string
}

// wire is the document as it travels; only Encode and Decode see it.
type wire struct {
	Version      int               `json:"version"`
	Bottle       string            `json:"bottle"`
	Policy       json.RawMessage   `json:"policy"`
	CACert       string            `json:"ca_cert"`
	CAKey        string            `json:"ca_key"`
	UpstreamCA   string            `json:"upstream_ca,omitempty"`
	Secrets      map[string]string `json:"secrets,omitempty"`
	Resolve      map[string]string `json:"resolve,omitempty"`
	Listen       string            `json:"listen"`
	DNS          string            `json:"dns,omitempty"`
	Audit        string            `json:"audit,omitempty"`
	GitDir       string            `json:"git_dir,omitempty"`
	Control      string            `json:"control"`
	ControlToken string            `json:"control_token"`
	// SuperviseTimeout is in seconds.
	SuperviseTimeout int64 `json:"supervise_timeout_s,omitempty"`
}

// FromSpec builds the document of spec for a backend's runtime. It reads
// the policy and CA the launcher wrote, and checks that every slot of the
// policy has its secret.
func FromSpec(spec *backend.Spec, rt Runtime) (*Document, error) {
	pol, err := os.ReadFile(spec.PolicyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the policy: %w", err)
	}
	cert, err := os.ReadFile(spec.CADir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("reading the bottle CA: %w", err)
	}
	key, err := os.ReadFile(spec.CADir + "/ca.key")
	if err != nil {
		return nil, fmt.Errorf("reading the bottle CA key: %w", err)
	}
	d := &Document{
		Version: Version, Bottle: spec.Slug, Policy: pol, CACert: cert, CAKey: secret.New(string(key)),
		Secrets: spec.Secrets, Resolve: spec.Resolve, ControlToken: spec.ControlToken, Runtime: rt,
		SuperviseTimeout: spec.SuperviseTimeout,
	}
	if spec.UpstreamCA != "" {
		if d.UpstreamCA, err = os.ReadFile(spec.UpstreamCA); err != nil {
			return nil, fmt.Errorf("reading the upstream CA: %w", err)
		}
	}
	if _, err := d.ParsePolicy(); err != nil {
		return nil, err
	}
	return d, nil
}

// ParsePolicy parses the document's policy and checks that every slot
// has its secret.
func (d *Document) ParsePolicy() (*policy.Policy, error) {
	pol, err := policy.Parse(d.Policy)
	if err != nil {
		return nil, err
	}
	if err := CheckSlots(pol, d.Secrets); err != nil {
		return nil, err
	}
	return pol, nil
}

// CheckSlots reports the first slot of pol without a secret in secrets.
func CheckSlots(pol *policy.Policy, secrets map[string]secret.Value) error {
	for _, sl := range pol.Slots() {
		if v, ok := secrets[sl.Name]; !ok || v.IsZero() {
			if sl.Kind == policy.SlotToken {
				return fmt.Errorf("the secret for %s (host variable %s) was not handed to the sidecar", sl.Name, sl.Env)
			}
			return fmt.Errorf("the key of %s (%s) was not handed to the sidecar", sl.For, sl.Name)
		}
	}
	return nil
}

// Encode writes the document, secrets revealed: w must be the sidecar's
// standard input and nothing else.
func (d *Document) Encode(w io.Writer) error {
	wd := wire{
		Version: d.Version, Bottle: d.Bottle, Policy: d.Policy, CACert: string(d.CACert), CAKey: d.CAKey.Reveal(),
		UpstreamCA: string(d.UpstreamCA), Resolve: d.Resolve, Listen: d.Listen, DNS: d.DNS, Audit: d.Audit,
		GitDir: d.GitDir, Control: d.Control, ControlToken: d.ControlToken.Reveal(),
		SuperviseTimeout: int64(d.SuperviseTimeout / time.Second),
	}
	if len(d.Secrets) > 0 {
		wd.Secrets = map[string]string{}
		for k, v := range d.Secrets {
			wd.Secrets[k] = v.Reveal()
		}
	}
	return json.NewEncoder(w).Encode(wd)
}

// Marshal returns the encoded document; its bytes hold the secrets.
func (d *Document) Marshal() ([]byte, error) {
	var b strings.Builder
	if err := d.Encode(&b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// Decode reads one document from r (the sidecar's standard input).
func Decode(r io.Reader) (*Document, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxDocument))
	dec.DisallowUnknownFields()
	var wd wire
	if err := dec.Decode(&wd); err != nil {
		return nil, fmt.Errorf("reading the launch document: %w", err)
	}
	if wd.Version != Version {
		return nil, fmt.Errorf("launch document version %d, want %d: use one bot-bottle binary for the host and the sidecar", wd.Version, Version)
	}
	if wd.Listen == "" || len(wd.Policy) == 0 || wd.CACert == "" || wd.CAKey == "" {
		return nil, errors.New("the launch document lacks the listen address, the policy or the CA")
	}
	if wd.SuperviseTimeout < 0 {
		return nil, errors.New("the launch document's supervise timeout is negative")
	}
	if wd.Control != "" && len(wd.ControlToken) < 32 {
		return nil, errors.New("the launch document's control token is missing or short")
	}
	d := &Document{
		Version: wd.Version, Bottle: wd.Bottle, Policy: wd.Policy, CACert: []byte(wd.CACert), CAKey: secret.New(wd.CAKey),
		UpstreamCA: []byte(wd.UpstreamCA), Resolve: wd.Resolve, Secrets: map[string]secret.Value{},
		ControlToken:     secret.New(wd.ControlToken),
		SuperviseTimeout: time.Duration(wd.SuperviseTimeout) * time.Second,
		Runtime:          Runtime{Listen: wd.Listen, DNS: wd.DNS, Audit: wd.Audit, GitDir: wd.GitDir, Control: wd.Control},
	}
	for _, k := range slices.Sorted(maps.Keys(wd.Secrets)) {
		d.Secrets[k] = secret.New(wd.Secrets[k])
	}
	return d, nil
}

// Ready is the sidecar's one readiness line, written as JSON on its
// standard output once every service serves: {"ready": {...}} or
// {"error": "..."}.
type Ready struct {
	Bottle   string `json:"bottle"`
	Routes   int    `json:"routes"`
	Egress   string `json:"egress"`
	DNS      string `json:"dns,omitempty"`
	Control  string `json:"control,omitempty"`
	CASHA256 string `json:"ca_sha256"`
}

type readyLine struct {
	Ready *Ready `json:"ready,omitempty"`
	Error string `json:"error,omitempty"`
}

// WriteReady writes the readiness line.
func WriteReady(w io.Writer, r Ready) error {
	return json.NewEncoder(w).Encode(readyLine{Ready: &r})
}

// WriteFailed writes the line saying why the sidecar could not start.
func WriteFailed(w io.Writer, err error) error {
	return json.NewEncoder(w).Encode(readyLine{Error: err.Error()})
}

// WaitReady reads the sidecar's standard output until its readiness line.
// It fails with the sidecar's reason, or, when the stream ends first, with
// the last lines of stderrTail (may be nil).
func WaitReady(r io.Reader, stderrTail func() string) (Ready, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l readyLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case l.Ready != nil:
			return *l.Ready, nil
		case l.Error != "":
			return Ready{}, fmt.Errorf("the sidecar could not start: %s", l.Error)
		}
	}
	msg := "the sidecar exited before it was ready"
	if stderrTail != nil {
		if t := strings.TrimSpace(stderrTail()); t != "" {
			msg += ":\n" + t
		}
	}
	return Ready{}, errors.New(msg)
}
