package docker

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/moby/moby/client"

	"github.com/bot-bottle/bot-bottle/internal/backend"
)

// BridgeRole is the hidden subcommand that joins an exec's standard
// streams to the sidecar's control listener inside its container.
const BridgeRole = "sidecar-bridge"

// DialControl implements backend.Backend. The control listener is on the
// loopback of the sidecar's network namespace: nothing on a network, the
// bottle's included, can reach it. The host reaches it through the Docker
// API, which works the same across Docker Desktop's VM boundary: an exec
// of the sidecar's own binary whose stdio is the connection.
func (d *Driver) DialControl(ctx context.Context, slug string) (net.Conn, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	created, err := cli.ExecCreate(ctx, sidecarName(slug), client.ExecCreateOptions{
		User:         fmt.Sprintf("%d:%d", sidecarUID, sidecarUID),
		AttachStdin:  true,
		AttachStdout: true,
		Cmd:          []string{"/bot-bottle", BridgeRole, sidecarControl},
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("bottle %s: %w", slug, backend.ErrNotFound)
		}
		return nil, fmt.Errorf("reaching the sidecar of %s: %w", slug, err)
	}
	att, err := cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("reaching the sidecar of %s: %w", slug, err)
	}
	pr, pw := io.Pipe()
	go func() { _, err := demux(pw, io.Discard, att.Reader); pw.CloseWithError(err) }()
	return &execConn{HijackedResponse: att.HijackedResponse, r: pr}, nil
}

// execConn is an exec's attached streams as a connection: writes go to
// its stdin, reads come from its demultiplexed stdout.
type execConn struct {
	client.HijackedResponse
	r *io.PipeReader
}

func (c *execConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *execConn) Write(p []byte) (int, error) { return c.Conn.Write(p) }
func (c *execConn) Close() error {
	c.HijackedResponse.Close()
	return c.r.Close()
}
func (c *execConn) LocalAddr() net.Addr                { return c.Conn.LocalAddr() }
func (c *execConn) RemoteAddr() net.Addr               { return c.Conn.RemoteAddr() }
func (c *execConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(t) }
func (c *execConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(t) }
func (c *execConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(t) }
