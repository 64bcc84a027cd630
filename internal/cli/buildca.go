package cli

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// hostCABundles are where Linux distributions and macOS keep the system's
// CAs as one PEM file.
var hostCABundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/cert.pem",                  // macOS, Arch
}

// buildCA is the PEM of the CAs image builds trust: BOT_BOTTLE_BUILD_CA's
// file, none for "none", by default the host's bundle (so that npm in a
// build works behind the TLS-intercepting proxy the host trusts). Only
// certificates are kept.
func buildCA(lookup func(string) (string, bool)) ([]byte, error) {
	v, _ := lookup("BOT_BOTTLE_BUILD_CA")
	switch v {
	case "none":
		return nil, nil
	case "":
		for _, p := range hostCABundles {
			if data, err := os.ReadFile(p); err == nil {
				return certsOnly(data), nil
			}
		}
		return nil, nil
	}
	data, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("BOT_BOTTLE_BUILD_CA: %w (name a PEM file of CAs, or none)", err)
	}
	certs := certsOnly(data)
	if len(certs) == 0 {
		return nil, errors.New("BOT_BOTTLE_BUILD_CA: " + v + " holds no PEM certificate")
	}
	return certs, nil
}

// certsOnly is the parseable CERTIFICATE blocks of data, re-encoded: a
// private key in the file never reaches an image.
func certsOnly(data []byte) []byte {
	var out []byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes})...)
	}
}
