package gittest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// services maps the commands a git client execs over SSH to the git
// subcommand that serves them.
var services = map[string]string{
	"git-upload-pack":  "upload-pack",
	"git-receive-pack": "receive-pack",
}

// session serves one SSH session: env requests (GIT_PROTOCOL only), then
// one exec of a git service, whose exit status it returns.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			// Only GIT_PROTOCOL passes, as with sshd's usual AcceptEnv.
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
			if ok {
				env = append(env, "GIT_PROTOCOL="+kv.Value)
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				_ = req.Reply(false, nil)
				return
			}
			_ = req.Reply(true, nil)
			// Later requests (none expected from git) must still be
			// answered, or they would stall the connection.
			s.wg.Go(func() {
				for r := range reqs {
					_ = r.Reply(false, nil)
				}
			})
			code := s.exec(ch, p.Command, env)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{code}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// exec runs command, such as "git-upload-pack '/team/app.git'", with ch
// as its stdin, stdout and stderr, and returns its exit status.
func (s *Server) exec(ch ssh.Channel, command string, env []string) uint32 {
	service, dir, err := s.resolve(command)
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	s.mu.Lock()
	s.execs = append(s.execs, command)
	config := slices.Clone(s.config)
	s.mu.Unlock()

	//nolint:gosec // G204: service is one of two constants and dir is confined to the server's root.
	cmd := exec.CommandContext(s.ctx, "git", service, dir)
	cmd.Env = append(gitEnv(s.root), env...)
	if len(config) > 0 {
		cmd.Env = append(cmd.Env, "GIT_CONFIG_COUNT="+strconv.Itoa(len(config)))
		for i, kv := range config {
			k, v, _ := strings.Cut(kv, "=")
			cmd.Env = append(cmd.Env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, k), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, v))
		}
	}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// A hook that leaves a child holding stdout must not hang the test.
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 127
	}
	// Not cmd.Stdin = ch: exec would wait for the client to close its
	// side before Wait returns, and clients need not. This copy ends when
	// the channel closes, after the exit status is sent.
	s.wg.Go(func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	})
	err = cmd.Wait()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		if code := ee.ExitCode(); code >= 0 {
			return uint32(code) //nolint:gosec // G115: an exit code fits.
		}
		return 255 // killed by a signal
	}
	if err != nil {
		return 255
	}
	return 0
}

// resolve parses a git exec command into the git subcommand and the
// repository directory it names under the root.
//
// Security: the path is confined to the root; ".." or an absolute path
// after the leading slash is refused.
func (s *Server) resolve(command string) (service, dir string, err error) {
	name, arg, ok := strings.Cut(command, " ")
	service, known := services[name]
	if !ok || !known {
		return "", "", fmt.Errorf("gittest: unsupported command %q", command)
	}
	path, err := sqDequote(arg)
	if err != nil {
		return "", "", fmt.Errorf("gittest: command %q: %w", command, err)
	}
	rel := strings.TrimPrefix(path, "/")
	if !filepath.IsLocal(rel) {
		return "", "", fmt.Errorf("gittest: path %q escapes the server's root", path)
	}
	dir = filepath.Join(s.root, rel)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		// git's own wording, which clients recognise as "not found".
		return "", "", fmt.Errorf("'%s' does not appear to be a git repository", path)
	}
	return service, dir, nil
}

// sqDequote undoes git's sq_quote_buf: each ' inside the quotes is
// written as a closing quote, \', and an opening quote.
func sqDequote(s string) (string, error) {
	var b strings.Builder
	for {
		if !strings.HasPrefix(s, "'") {
			return "", errors.New("argument is not single-quoted")
		}
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", errors.New("unterminated quote")
		}
		b.WriteString(s[1 : 1+end])
		s = s[end+2:]
		if s == "" {
			return b.String(), nil
		}
		if len(s) < 2 || s[0] != '\\' || (s[1] != '\'' && s[1] != '!') {
			return "", errors.New("bad quoting")
		}
		b.WriteByte(s[1])
		s = s[2:]
	}
}
