package upstream

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packWindow is go-git's default delta window (config.DefaultPackWindow):
// it does not reuse stored deltas, and without a window a real history
// goes out several times larger.
const packWindow = 10

// sendCommands writes the push request: the commands, the push options
// verbatim and in order, and a pack of what the upstream lacks. The
// objects are listed before anything is written, so a mirror missing one
// fails the push while receive-pack has received no command.
func (c *conn) sendCommands(mirror *git.Repository, ar *packp.AdvRefs, cmds []command, options []string) error {
	caps := ar.Capabilities
	var objs []plumbing.Hash
	needPack := false
	for _, cmd := range cmds {
		needPack = needPack || !cmd.new.IsZero()
	}
	if needPack {
		var err error
		if objs, err = objectsToSend(mirror.Storer, ar, cmds); err != nil {
			return fmt.Errorf("listing the objects to send: %w", err)
		}
	}

	want := []string{string(capability.ReportStatus)}
	if caps.Supports(capability.Sideband64k) {
		want = append(want, string(capability.Sideband64k))
	}
	// quiet spares the agent the upstream's unpack progress; hook
	// messages, which are what it needs, still come.
	if caps.Supports(capability.Quiet) {
		want = append(want, string(capability.Quiet))
	}
	if len(options) > 0 {
		want = append(want, string(capability.PushOptions))
	}
	if caps.Supports(capability.Agent) {
		want = append(want, agent)
	}

	e := pktline.NewEncoder(c.in)
	for i, cmd := range cmds {
		line := cmd.old.String() + " " + cmd.new.String() + " " + cmd.name.String()
		if i == 0 {
			line += "\x00" + strings.Join(want, " ")
		}
		if err := e.EncodeString(line); err != nil {
			return c.fail("sending commands", err)
		}
	}
	if err := e.Flush(); err != nil {
		return c.fail("sending commands", err)
	}
	if len(options) > 0 {
		// Raw, as git sends them: "ci.skip" stays key-only.
		for _, o := range options {
			if err := e.EncodeString(o); err != nil {
				return c.fail("sending push options", err)
			}
		}
		if err := e.Flush(); err != nil {
			return c.fail("sending push options", err)
		}
	}
	// receive-pack reads a pack unless every command is a delete.
	if needPack {
		enc := packfile.NewEncoder(c.in, mirror.Storer, !caps.Supports(capability.OFSDelta))
		if _, err := enc.Encode(objs, packWindow); err != nil {
			return c.fail("sending the pack", err)
		}
	}
	if err := c.send(); err != nil {
		return c.fail("sending the push", err)
	}
	return nil
}

// objectsToSend lists the objects reachable from the new values and not
// from any advertised ref the mirror also has: what the upstream lacks.
func objectsToSend(st storer.EncodedObjectStorer, ar *packp.AdvRefs, cmds []command) ([]plumbing.Hash, error) {
	var wants, haves []plumbing.Hash
	for _, cmd := range cmds {
		if !cmd.new.IsZero() {
			wants = append(wants, cmd.new)
		}
	}
	for _, h := range ar.References {
		if st.HasEncodedObject(h) == nil {
			haves = append(haves, h)
		}
	}
	return revlist.Objects(st, wants, haves)
}
