package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bot-bottle/bot-bottle/internal/testinfra/backendtest"
)

func TestBuildCA(t *testing.T) {
	dir := t.TempDir()
	caFile, _, keyPEM := backendtest.UpstreamCert(t, dir, "registry.example.test")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	mixed := filepath.Join(dir, "mixed.pem")
	if err := os.WriteFile(mixed, append(append([]byte("junk\n"), keyPEM...), ca...), 0o600); err != nil {
		t.Fatal(err)
	}
	keyOnly := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(keyOnly, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, env string
		want      []byte
		wantErr   string
	}{
		{"none", "none", nil, ""},
		{"a CA file", caFile, ca, ""},
		{"a private key never reaches the image", mixed, ca, ""},
		{"no certificate", keyOnly, nil, "holds no PEM certificate"},
		{"missing", filepath.Join(dir, "absent.pem"), nil, "name a PEM file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := buildCA(func(k string) (string, bool) { return c.env, k == "BOT_BOTTLE_BUILD_CA" })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("buildCA = %v, want an error with %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, c.want) {
				t.Fatalf("buildCA = %q, %v; want %q", got, err, c.want)
			}
		})
	}
	t.Run("the host's by default", func(t *testing.T) {
		got, err := buildCA(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		host := false
		for _, p := range hostCABundles {
			if _, err := os.Stat(p); err == nil {
				host = true
			}
		}
		if host != (len(got) > 0) || bytes.Contains(got, []byte("PRIVATE")) {
			t.Fatalf("default build CA: %d bytes, host bundle present: %v", len(got), host)
		}
	})
}
